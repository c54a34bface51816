"""Recordings with gaps of speech-like non-speech, the kind a VAD is most likely to take for
speech: applause, noise shaped like speech's spectrum and modulated at its syllable rate, and
the murmur of a crowd (eight utterances of other chapters, played backwards so no word in
them is English, mixed and kept quieter than the speech). Chapters other than
`more_gaps.py`'s (every third chapter from the second), up to 150 s of speech each with three
gaps of 8-20 s, a faint room tone throughout; the manifest as `data/gaps`'s.

    python benchmarks/crowd_gaps.py --output data/gaps_crowd --count 9
    python benchmarks/gaps.py --models tiny.en,base --data data/gaps_crowd --pick first \\
        --limit 9 --systems "ours,ours --eas,faster-whisper vad_filter" \\
        --output benchmarks/results/gaps_crowd_cpu
"""

import argparse
from pathlib import Path

import build_long_audio as gaps
import numpy as np
from more_gaps import write_set

from whisper_eas.audio import SAMPLE_RATE, load_audio

KINDS = ("applause", "speech-shaped noise", "crowd")


def syllable_envelope(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random envelope of 3-6 bursts a second with short dips between, speech's rhythm."""
    envelope, at = np.zeros(n), 0
    while at < n:
        length = round(rng.uniform(0.12, 0.3) * SAMPLE_RATE)
        burst = np.hanning(length) * rng.uniform(0.3, 1.0)
        envelope[at : at + length] = burst[: n - at]
        at += length + round(rng.uniform(0.0, 0.12) * SAMPLE_RATE)
    return envelope


def applause(n: int, rng: np.random.Generator) -> np.ndarray:
    """Many hand claps a second (short noise bursts, each its own colour), swelling and
    fading over the stretch."""
    x = 0.002 * rng.standard_normal(n)
    claps = int(n / SAMPLE_RATE * 40)
    for at in rng.integers(0, n - 800, claps):
        burst = rng.standard_normal(800) * np.exp(-np.arange(800) / rng.uniform(40, 150))
        x[at : at + 800] += rng.uniform(0.02, 0.12) * np.convolve(burst, [1, -0.9])[:800]
    swell = np.minimum(1.0, np.minimum(np.arange(n), n - np.arange(n)) / SAMPLE_RATE)
    return x * (0.2 + 0.8 * swell)


def speech_shaped(n: int, rng: np.random.Generator) -> np.ndarray:
    """White noise with speech's long-term spectrum (a peak near 500 Hz, -6 dB an octave
    above it) under a syllable-rate envelope."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    spectrum *= np.where(f < 500, np.maximum(f, 50) / 500, 500 / np.maximum(f, 500))
    x = np.fft.irfft(spectrum, n)
    x = x / x.std() * syllable_envelope(n, rng)
    return 0.06 * x / max(x.std(), 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/librispeech-dev-clean")
    parser.add_argument("--output", default="data/gaps_crowd")
    parser.add_argument("--count", type=int, default=9)
    parser.add_argument("--seed", type=int, default=43)
    args = parser.parse_args()
    data, out = Path(args.data), Path(args.output)
    every = list(gaps.chapters(data).items())
    chapters = every[1::3][: args.count]
    # The crowd's voices: the first utterances of chapters left out of the set, backwards.
    voices = [records[0] for _, records in every[2::3]]

    def non_speech(kind: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
        n = round(seconds * SAMPLE_RATE)
        if kind == "applause":
            return applause(n, rng).astype(np.float32)
        if kind == "speech-shaped noise":
            return speech_shaped(n, rng).astype(np.float32)
        crowd = np.zeros(n)
        for i in rng.choice(len(voices), 8, replace=False):
            voice = load_audio(data / voices[i]["audio"])[::-1]
            voice = np.tile(voice, n // len(voice) + 1)
            start = rng.integers(0, len(voice) - n + 1)
            crowd += voice[start : start + n] / max(voice.std(), 1e-9)
        return (0.025 * crowd / crowd.std()).astype(np.float32)

    gaps.GAP_KINDS = KINDS
    gaps.non_speech = non_speech
    write_set(data, out, chapters, np.random.default_rng(args.seed), "crowd")


if __name__ == "__main__":
    main()
