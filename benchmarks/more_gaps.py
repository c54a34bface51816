"""More recordings with gaps, of other non-speech than `build_long_audio.py`'s: traffic-like
noise bursts, keyboard-like clicks, bird-like chirps, white noise as loud as speech, a low
rumble, and its synthetic music four times louder (louder than speech). Between utterances a
faint room tone instead of digital silence. Every third dev-clean chapter, up to 150 s of its
speech with three gaps of 8-20 s; the manifest as `data/gaps`'s (texts, utterances, gaps), so
`gaps.py` and `constant_ab.py` read it.

    python benchmarks/more_gaps.py --output data/gaps_more --count 8
    python benchmarks/gaps.py --models tiny.en,base --data data/gaps_more --pick first \\
        --limit 8 --systems "ours,ours --eas,faster-whisper vad_filter" \\
        --output benchmarks/results/gaps_more_cpu
"""

import argparse
from pathlib import Path

import build_long_audio as gaps
import numpy as np

from whisper_eas.audio import SAMPLE_RATE


def non_speech(kind: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    n = round(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    if kind == "bursts":  # noise (brown-ish) under a slow random envelope
        knots = np.arange(0, seconds + 1, 0.5)
        envelope = np.interp(t, knots, rng.uniform(0, 1, len(knots))) ** 2
        x = np.cumsum(rng.standard_normal(n))
        x -= np.convolve(x, np.ones(400) / 400, "same")
        return (0.05 * envelope * x / x.std()).astype(np.float32)
    if kind == "clicks":  # six short decaying clicks a second over a faint floor
        x = 0.001 * rng.standard_normal(n)
        for at in rng.uniform(0, seconds - 0.05, int(seconds * 6)):
            i = int(at * SAMPLE_RATE)
            x[i : i + 400] += 0.2 * rng.standard_normal(400) * np.exp(-np.arange(400) / 60)
        return x.astype(np.float32)
    if kind == "chirps":  # two 50-250 ms frequency sweeps (2-5 kHz) a second
        x = 0.002 * rng.standard_normal(n)
        for at in rng.uniform(0, seconds - 0.3, int(seconds * 2)):
            i, m = int(at * SAMPLE_RATE), int(rng.uniform(0.05, 0.25) * SAMPLE_RATE)
            local = np.arange(m) / SAMPLE_RATE
            f0, f1 = rng.uniform(2000, 5000, 2)
            phase = 2 * np.pi * (f0 * local + (f1 - f0) * local**2 / (2 * local[-1]))
            x[i : i + m] += 0.1 * np.sin(phase) * np.hanning(m)
        return x.astype(np.float32)
    if kind == "loud noise":
        return (0.06 * rng.standard_normal(n)).astype(np.float32)
    if kind == "rumble":  # brown noise, its slowest drift taken out
        x = np.cumsum(rng.standard_normal(n))
        x -= np.convolve(x, np.ones(4000) / 4000, "same")
        return (0.03 * x / x.std()).astype(np.float32)
    return 4 * MUSIC("music", seconds, rng)  # "loud music"


MUSIC = gaps.non_speech  # build_long_audio's own, taken before main() puts ours in its place


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/librispeech-dev-clean")
    parser.add_argument("--output", default="data/gaps_more")
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    data, out = Path(args.data), Path(args.output)
    gaps.GAP_KINDS = ("bursts", "clicks", "chirps", "loud noise", "rumble", "loud music")
    gaps.non_speech = non_speech
    chapters = list(gaps.chapters(data).items())[::3][: args.count]
    write_set(data, out, chapters, np.random.default_rng(args.seed), "more")


def write_set(data: Path, out: Path, chapters: list, rng: np.random.Generator, group: str):
    """Up to 150 s of each chapter's speech with three gaps (of `build_long_audio`'s
    GAP_KINDS and non_speech, as the caller set them) and a faint room tone throughout; the
    audio and `data/gaps`' manifest written to `out`."""
    rows = []
    for number, (chapter, records) in enumerate(chapters):
        take = gaps.leading(records, 150)
        audio, spans, found = gaps.with_gaps(data, take, rng, first_kind=number)
        audio = audio + (0.0005 * rng.standard_normal(len(audio))).astype(np.float32)  # room
        extra = {"group": group, "utterances": spans, "gaps": found}
        rows.append(gaps.write(out, chapter, audio, take, extra))
    gaps.save(out, rows)


if __name__ == "__main__":
    main()
