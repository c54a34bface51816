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

import numpy as np

from .audio import SAMPLE_RATE
from .vad import pauses_of

MAX_PARTS = 8
# Parts of at least this length: each decodes in two windows or more, the first without the
# previous text. Measured on 6 dev-clean recordings (tiny.en): parts of 45-55 s were the
# fastest (~1.75x the whole file) and cost no accuracy; parts of ~27 s (one window each) needed
# a second window for a tail in a third of them, were slower and lost 0.4 points of WER.
MIN_PART_SECONDS = 45.0
SEARCH = 0.25  # a cut is looked for within this fraction of a part's length around its target
CUT_STEP = 320  # cuts fall on a timestamp (20 ms), where a window may start


def part_count(n_samples: int, max_parts: int = MAX_PARTS) -> int:
    """How many parts a recording of n_samples is cut into (before looking for pauses)."""
    return max(1, min(max_parts, int(n_samples / SAMPLE_RATE / MIN_PART_SECONDS)))


def choose_cuts(pauses: list[tuple[int, int]], n_samples: int, n_parts: int) -> list[int]:
    """Sample positions where parts begin (the first part's start, 0, not listed). For each of
    the n_parts - 1 evenly spaced targets, the longest pause whose middle lies within SEARCH
    of a part's length around it; a target with no pause near it gets no cut (its neighbours
    grow). Cuts are rounded to a timestamp and strictly increasing."""
    if n_parts < 2:
        return []
    length = n_samples / n_parts
    cuts = []
    for k in range(1, n_parts):
        target = k * length
        near = [(a, b) for a, b in pauses if abs((a + b) / 2 - target) <= SEARCH * length]
        if not near:
            continue
        a, b = max(near, key=lambda p: (p[1] - p[0], -abs((p[0] + p[1]) / 2 - target)))
        cut = round((a + b) / 2 / CUT_STEP) * CUT_STEP
        if (not cuts or cut > cuts[-1]) and 0 < cut < n_samples:
            cuts.append(cut)
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
