"""Speech under background noise: the long recordings of `data/long`, each cut after the
utterance that ends nearest `--seconds`, with noise under the whole of it at a signal-to-noise
ratio (the speech's RMS over its utterances against the noise's). The noise kinds take turns
by recording: white and pink noise, mains hum, music-like tones (build_long_audio's), noise
bursts and a low rumble (more_gaps'). Where the gap sets put non-speech between the speech,
this puts it under the speech: what the VAD, the cuts into parts and the previous-text prompt
do when the speech itself is noisy.

    python benchmarks/noisy_speech.py --snr 5 --output data/noisy5
    python benchmarks/longform.py --models tiny.en --data data/noisy5 --limit 12 \\
        --systems ours,ours-b1,faster-whisper,faster-whisper-batched \\
        --output benchmarks/results/noisy5_tiny_cpu
"""

import argparse
import json
from pathlib import Path

import build_long_audio
import medium_audio
import more_gaps
import numpy as np

from whisper_eas.audio import SAMPLE_RATE

KINDS = ("white noise", "pink noise", "music", "hum", "bursts", "rumble")


def noise(kind: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    if kind in ("bursts", "rumble"):
        return more_gaps.non_speech(kind, seconds, rng)
    return build_long_audio.non_speech(kind, seconds, rng)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/long", help="folder with manifest.jsonl")
    parser.add_argument("--dev-clean", default="../shared/data/librispeech-dev-clean")
    parser.add_argument("--output", default="data/noisy5")
    parser.add_argument("--snr", type=float, default=5.0, help="dB, speech over noise")
    parser.add_argument("--seconds", type=float, default=120.0, help="length to cut near")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.seconds <= 0:
        parser.error(f"--seconds must be > 0, got {args.seconds}")
    manifest = Path(args.data) / "manifest.jsonl"
    if not manifest.is_file():
        parser.error(f"no {manifest}: run benchmarks/build_long_audio.py first")
    dev_clean = Path(args.dev_clean) / "manifest.jsonl"
    if not dev_clean.is_file():
        parser.error(f"no {dev_clean}: --dev-clean names dev-clean's folder (the texts)")
    texts = medium_audio.dev_clean_texts(Path(args.dev_clean))
    rng, out, rows = np.random.default_rng(args.seed), Path(args.output), []
    for k, line in enumerate(manifest.open()):
        record = json.loads(line)
        kept, wave = medium_audio.cut_near(record, Path(args.data), args.seconds)
        speech = np.concatenate(
            [
                wave[round(start * SAMPLE_RATE) : round(stop * SAMPLE_RATE)]
                for _, start, stop in kept
            ]
        )
        kind = KINDS[k % len(KINDS)]
        under = noise(kind, len(wave) / SAMPLE_RATE, rng)[: len(wave)]
        gain = np.sqrt(np.mean(speech**2) / np.mean(under**2) / 10 ** (args.snr / 10))
        mixed = wave + gain * under
        mixed = (mixed / max(1.0, float(np.abs(mixed).max()))).astype(np.float32)  # no clipping
        records = [{"text": texts[u[0]]} for u in kept]
        extra = {"group": record["group"], "utterances": kept, "gaps": [], "noise": kind,
                 "snr_db": args.snr}  # fmt: skip
        rows.append(build_long_audio.write(out, record["id"], mixed, records, extra))
    build_long_audio.save(out, rows)


if __name__ == "__main__":
    main()
