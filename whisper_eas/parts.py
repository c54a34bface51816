"""One long recording as several rows: where to cut it.

The batched long-form decodes one 30 s window per row per step, so a single file alone fills
one row of the batch and each window waits for the one before. Cut at pauses into parts that
each fit one window, each part decodes as a row of its own (its own seek, prompt, fallbacks and
timestamps) and the parts' segments join in time order. What a part loses is the previous text
for its first window; a cut in the middle of a pause loses no word.

The cuts depend on the recording alone, never on the batch size or on the other files of a
batch, so a file's result is the same in any batch (`batch_size=1` decodes it whole: openai-
whisper's sequential algorithm).
"""

import math

import numpy as np

from .audio import SAMPLE_RATE
from .vad import pauses_of

# A recording shorter than this is decoded whole (one window); a longer one is cut into parts
# of one window each. From 90 s until 2026-12-03: a recording of 36-84 s decoded whole, one
# window after another, took 1.2-1.6x the time of its parts side by side, at the same WER
# (28 of data/medium, 16 of data/medium_rest; docs/long_recordings.md "Recordings under 90 s").
SPLIT_FROM_SECONDS = 30.0
# Parts of about this length, each at most LONGEST_PART_SECONDS: one window holds a part, and
# since a part's last window may not end its text before the VAD's last speech in it
# (transcribe.END_MARGIN_S), nearly every part is decoded in one window. Rows refill as parts
# finish, so a 4-minute recording is about 9 rows in one pass of a batch of 8. Against parts of
# 45-54 s (two windows each, the second with the first's text as prompt), one process taking
# turns (2026-12-02, AVX2 EPYC), WER and speed-up:
#   data/long's 12: tiny.en int8 5.23 -> 4.87 % 1.05x, base int8 4.77 -> 4.62 % 1.00x,
#     base float32 4.44 -> 4.57 % 1.04x, tiny.en float32 (parts of ~26 s) 4.90 -> 4.79 % 1.00x;
#   data/long_rest's 16: tiny.en int8 6.34 -> 6.42 % 1.07x, base float32 5.44 -> 5.50 % 1.05x;
#   data/gaps' first 12: tiny.en float32 6.00 -> 5.71 % 1.10x (docs/long_recordings.md).
PART_SECONDS = 28.5
LONGEST_PART_SECONDS = 29.5  # a little under 30 s: room for the last segment's end timestamp
SEARCH = 0.25  # a cut is looked for up to this fraction of a part's length after its target
# A pause this long or longer is a safe place for a cut (a sentence's end, not a breath inside
# a word), so the nearest one to the target wins over a longer one further away: parts of
# equal length decode in the fewest windows.
MIN_CUT_PAUSE = 0.5 * SAMPLE_RATE
CUT_STEP = 320  # cuts fall on a timestamp (20 ms), where a window may start


def choose_cuts(
    pauses: list[tuple[int, int]],
    n_samples: int,
    part: float = PART_SECONDS * SAMPLE_RATE,
    longest: float = LONGEST_PART_SECONDS * SAMPLE_RATE,
    max_parts: int | None = None,
) -> list[int]:
    """Sample positions where parts begin (the first part's start, 0, not listed). While what
    is left is longer than `longest`, the next cut aims at an equal share of it (parts of about
    `part`) and goes in the middle of the pause of at least MIN_CUT_PAUSE nearest that target,
    else of the longest pause, among those from half a share to the part's limit (`longest`,
    or SEARCH of a share past the target if less); with no pause there, among those before the
    limit, else the first one after it (that part then needs a second window). Cuts are
    rounded to a timestamp and strictly increasing; at most `max_parts` parts."""
    middle = lambda pause: (pause[0] + pause[1]) / 2  # noqa: E731
    cuts, previous = [], 0
    while n_samples - previous > longest and (max_parts is None or len(cuts) < max_parts - 1):
        share = (n_samples - previous) / math.ceil((n_samples - previous) / part)
        target, limit = previous + share, previous + min(longest, (1 + SEARCH) * share)
        later = [p for p in pauses if previous < middle(p) < n_samples]
        near = [p for p in later if previous + share / 2 <= middle(p) <= limit]
        near = near or [p for p in later if middle(p) <= limit] or later[:1]
        if not near:
            break  # no pause left: the rest is one part
        long_enough = [p for p in near if p[1] - p[0] >= MIN_CUT_PAUSE]
        if long_enough:
            pause = min(long_enough, key=lambda p: abs(middle(p) - target))
        else:
            pause = max(near, key=lambda p: (p[1] - p[0], -abs(middle(p) - target)))
        cut = round(middle(pause) / CUT_STEP) * CUT_STEP
        if not previous < cut < n_samples:
            break
        cuts.append(cut)
        previous = cut
    return cuts


def may_cut(n_samples: int, max_parts: int | None = None) -> bool:
    """Whether a recording this long may be cut into parts."""
    return n_samples >= SPLIT_FROM_SECONDS * SAMPLE_RATE and max_parts != 1


def split_points(
    waveform: np.ndarray, max_parts: int | None = None, pauses: list[tuple[int, int]] | None = None
) -> list[int]:
    """Where a recording's parts begin after the first (empty: decode it whole). `max_parts`
    caps the count (the parts then grow past one window); `pauses`: `vad.pauses_of(waveform)`,
    when already found."""
    if not may_cut(len(waveform), max_parts):
        return []
    seconds = len(waveform) / SAMPLE_RATE
    part = PART_SECONDS if max_parts is None else max(PART_SECONDS, seconds / max_parts)
    # Parts longer than one window only where max_parts asks for fewer, longer parts.
    longest = LONGEST_PART_SECONDS if part == PART_SECONDS else (1 + SEARCH) * part
    pauses = pauses_of(waveform) if pauses is None else pauses
    between = [(a, b) for a, b in pauses if 0 < a and b < len(waveform)]  # not the edges
    return choose_cuts(between, len(waveform), part * SAMPLE_RATE, longest * SAMPLE_RATE, max_parts)
