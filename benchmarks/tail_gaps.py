"""Recordings with gaps from the end of each chapter: `data/gaps` takes a chapter's first
~240 s of speech; this takes its last ~200 s (at least 100 s and six utterances), with three
8-20 s gaps of the same kinds (silence, white and pink noise, mains hum, synthetic music) at
other places and lengths (seed 5). Speech and gaps the settings were not chosen on: a check of
the gap bars on audio like a reviewer's. The manifest is `data/gaps`'s.

    python benchmarks/tail_gaps.py --output data/gaps_tail
    python benchmarks/gaps.py --models tiny.en,base --data data/gaps_tail --pick first \\
        --limit 12 --systems "ours,ours --eas,faster-whisper vad_filter" \\
        --output benchmarks/results/gaps_tail12_cpu
"""

import argparse
from pathlib import Path

import build_long_audio as gaps
import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/librispeech-dev-clean")
    parser.add_argument("--output", default="data/gaps_tail")
    parser.add_argument("--seconds", type=float, default=200.0, help="speech per recording")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    data, output = Path(args.data), Path(args.output)
    rng = np.random.default_rng(args.seed)
    manifest = []
    for number, (chapter, records) in enumerate(gaps.chapters(data).items()):
        take = gaps.leading(records[::-1], args.seconds)[::-1]  # the chapter's last utterances
        if sum(r["duration_s"] for r in take) < 100 or len(take) < 6:
            continue
        audio, spans, placed = gaps.with_gaps(data, take, rng, first_kind=number + 2)
        extra = {"group": "tail", "utterances": spans, "gaps": placed}
        manifest.append(gaps.write(output, chapter, audio, take, extra))
    gaps.save(output, manifest)


if __name__ == "__main__":
    main()
