"""Quiet copies of a set's recordings: each scaled so that its peak lies at a level taken in
turn from --peaks (-34 to -46 dBFS by default) and stored as 16-bit PCM, as a recording made with
a low input gain is. The manifest is the set's (texts, utterances, gaps), so `gaps.py` and
`constant_ab.py` read it as they read the set.

    python benchmarks/quiet_audio.py --data data/gaps --output data/gaps_quiet
    python benchmarks/constant_ab.py --constant vad.QUIET_PEAK --values 0,0.05 --model tiny.en \\
        --data data/gaps_quiet --limit 12 --output benchmarks/results/quiet_peak_gaps_tiny_cpu
"""

import argparse
import json
from pathlib import Path

import numpy as np
import soundfile as sf
from build_long_audio import save

from whisper_eas import load_audio
from whisper_eas.audio import SAMPLE_RATE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/gaps", help="folder with manifest.jsonl")
    parser.add_argument("--output", default="data/gaps_quiet")
    parser.add_argument("--peaks", default="0.02,0.01,0.005", help="peak levels, taken in turn")
    args = parser.parse_args()
    try:
        peaks = [float(p) for p in args.peaks.split(",")]
    except ValueError:
        parser.error(f"--peaks takes comma-separated numbers, got {args.peaks!r}")
    if not all(0 < p <= 1 for p in peaks):
        parser.error(f"--peaks must lie in (0, 1], got {args.peaks!r}")
    out = Path(args.output)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    rows = []
    for k, line in enumerate((Path(args.data) / "manifest.jsonl").open()):
        record = json.loads(line)
        waveform = load_audio(Path(args.data) / record["audio"])
        peak = peaks[k % len(peaks)]
        quiet = waveform * (peak / max(float(np.abs(waveform).max()), 1e-9))
        name = Path(record["audio"]).stem
        sf.write(out / "audio" / f"{name}.wav", quiet, SAMPLE_RATE, subtype="PCM_16")
        rows.append({**record, "audio": f"audio/{name}.wav", "peak": peak})
    save(out, rows)


if __name__ == "__main__":
    main()
