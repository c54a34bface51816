"""One long recording as several rows: where to cut it.

The batched long-form decodes one 30 s window per row per step, so a single file alone fills
one row of the batch and each window waits for the one before. Cut at pauses into parts of
similar length, each part decodes as a row of its own (its own seek, prompt, fallbacks and
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

MAX_PARTS = 8
# As many parts of at least this length as fit (under two: the file whole): each decodes in two
# windows or more, the first without the previous text. Measured on 6 dev-clean recordings
# (tiny.en): parts of 45-55 s were the fastest (~1.75x the whole file) and cost no accuracy;
# parts of ~27 s (one window each) needed a second window for a tail in a third of them, were
# slower and lost 0.4 points of WER.
# Again with parts of equal length (12 recordings, tiny.en): at least 40 s was 1.02x and 52 s
# 0.95x the speed of 45 s, at 5.07 and 5.06 % WER against 4.86 %.
MIN_PART_SECONDS = 45.0
# ...and at most this long where MAX_PARTS allows: a part over ~56 s needs a third window, and
# the longest part sets the rounds of the batch, so 108-135 s are cut into three parts (not two
# of 54-67 s, three windows each) and 162-180 s into four. One process taking turns, float32:
# 28 recordings of 112-132 s tiny.en 1.17x, WER 5.62 -> 5.51 %, base 1.10x, 5.01 -> 4.90 %;
# 16 of other chapters (118-176 s) 1.10x, 6.07 -> 5.76 % and 1.07x, 5.30 -> 5.03 % (int8:
# 1.17x, 5.87 -> 5.85 %; 1.12x, 5.41 -> 5.05 %). Of 24 longer ones (data/long, data/gaps) two
# got other parts: tiny.en 5.62 -> 5.28 % and 6.90 -> 9.83 % (words spelt otherwise, no
# sentence lost; README "Recordings of two minutes").
MAX_PART_SECONDS = 54.0
SEARCH = 0.25  # a cut is looked for within this fraction of a part's length around its target
# A pause this long or longer is a safe place for a cut (a sentence's end, not a breath inside
# a word), so the nearest one to the target wins over a longer one further away: parts of
# equal length decode in the fewest windows. The longest pause near the target had made parts
# of 29-64 s where 45-55 s was aimed at; each part over ~56 s needs a third window, and the
# longest part sets how many rounds the batch decodes. On the 12 long recordings the nearest
# 0.5 s pause gave tiny.en 1.07x (float32 and int8), base float32 1.03x, and WER 4.99 -> 4.86 %,
# 5.01 -> 4.91 %, 4.62 -> 4.66 % (0.3 and 0.8 s: 1.06-1.07x, 4.96 and 5.00 %).
MIN_CUT_PAUSE = 0.5 * SAMPLE_RATE
CUT_STEP = 320  # cuts fall on a timestamp (20 ms), where a window may start


def part_count(n_samples: int, max_parts: int = MAX_PARTS) -> int:
    """How many parts a recording of n_samples is cut into (before looking for pauses): one
    under two parts of MIN_PART_SECONDS; else as many parts of MIN_PART_SECONDS as fit, or
    more where a part would be over MAX_PART_SECONDS; at most `max_parts`."""
    seconds = n_samples / SAMPLE_RATE
    if seconds < 2 * MIN_PART_SECONDS:
        return 1
    count = max(int(seconds / MIN_PART_SECONDS), math.ceil(seconds / MAX_PART_SECONDS))
    return max(1, min(max_parts, count))


def choose_cuts(pauses: list[tuple[int, int]], n_samples: int, n_parts: int) -> list[int]:
    """Sample positions where parts begin (the first part's start, 0, not listed). Each cut
    aims at an equal share of what is left after the cut before it, and goes in the middle of
    the pause of at least MIN_CUT_PAUSE nearest that target within SEARCH of a share (else of
    the longest pause there); a target with no pause near it gets no cut (its neighbours
    grow). Cuts are rounded to a timestamp and strictly increasing."""
    middle = lambda pause: (pause[0] + pause[1]) / 2  # noqa: E731
    cuts, previous = [], 0
    for k in range(1, n_parts):
        share = (n_samples - previous) / (n_parts - k + 1)
        target = previous + share
        near = [p for p in pauses if abs(middle(p) - target) <= SEARCH * share]
        if not near:
            continue
        long_enough = [p for p in near if p[1] - p[0] >= MIN_CUT_PAUSE]
        if long_enough:
            pause = min(long_enough, key=lambda p: abs(middle(p) - target))
        else:
            pause = max(near, key=lambda p: (p[1] - p[0], -abs(middle(p) - target)))
        cut = round(middle(pause) / CUT_STEP) * CUT_STEP
        if (not cuts or cut > cuts[-1]) and 0 < cut < n_samples:
            cuts.append(cut)
            previous = cut
    return cuts


def split_points(
    waveform: np.ndarray, max_parts: int = MAX_PARTS, pauses: list[tuple[int, int]] | None = None
) -> list[int]:
    """Where a recording's parts begin after the first (empty: decode it whole). `pauses`:
    `vad.pauses_of(waveform)`, when already found."""
    n_parts = part_count(len(waveform), max_parts)
    if n_parts < 2:
        return []
    pauses = pauses_of(waveform) if pauses is None else pauses
    between = [(a, b) for a, b in pauses if 0 < a and b < len(waveform)]  # not the edges
    return choose_cuts(between, len(waveform), n_parts)
