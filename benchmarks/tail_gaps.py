"""Recordings with gaps from the rest of each chapter: `data/gaps` takes a chapter's first
~240 s of speech; this takes the speech after it (up to 200 s; at least 60 s and six
utterances: 7 chapters), with three 8-20 s gaps of the same kinds (silence, white and pink
noise, mains hum, synthetic music) at other places and lengths (seed 5). Gap recordings of
speech no gap setting was chosen on: a check of the gap bars on audio like a reviewer's
(`--skip 0 --min-seconds 100` instead: each chapter's last ~200 s, mostly `data/gaps`' speech
with other gaps). The manifest is `data/gaps`'s. `--kind music` makes every gap one kind: the
synthetic notes, whose attacks Silero hears as speech at a gap's start (`data/music_onsets`:
`--kind music --skip 60 --seconds 120 --seed 11`, 40 recordings, 120 onsets after speech).
`--gap-seconds 3,8` makes gaps a third of which are too short for the default to skip
(`data/mid_gaps`: `--skip 0 --min-seconds 100 --seconds 120 --gap-seconds 3,8 --seed 41`).

    python benchmarks/tail_gaps.py --output data/gaps_tail
    python benchmarks/gaps.py --models tiny.en,base --data data/gaps_tail --pick first \\
        --limit 7 --systems "ours,ours --eas,faster-whisper vad_filter" \\
        --output benchmarks/results/gaps_tail7_cpu
"""

import argparse
from pathlib import Path

import build_long_audio as gaps
import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/librispeech-dev-clean")
    parser.add_argument("--output", default="data/gaps_tail")
    parser.add_argument("--skip", type=float, default=240.0, help="speech data/gaps takes")
    parser.add_argument("--seconds", type=float, default=200.0, help="speech per recording")
    parser.add_argument("--min-seconds", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--kind", choices=gaps.GAP_KINDS, help="every gap of this kind")
    parser.add_argument(
        "--gap-seconds", default="8,20", help="shortest,longest gap (uniform between)"
    )
    args = parser.parse_args()
    if args.kind:
        gaps.GAP_KINDS = (args.kind,)
    data, output = Path(args.data), Path(args.output)
    try:
        gap_seconds = tuple(float(s) for s in args.gap_seconds.split(","))
    except ValueError:
        gap_seconds = ()
    if len(gap_seconds) != 2 or not 0 < gap_seconds[0] <= gap_seconds[1]:
        parser.error(f"--gap-seconds takes shortest,longest (0 < shortest <= longest), "
                     f"got {args.gap_seconds!r}")  # fmt: skip
    rng = np.random.default_rng(args.seed)
    manifest = []
    for number, (chapter, records) in enumerate(gaps.chapters(data).items()):
        if args.skip > 0:  # the speech after what data/gaps takes
            take = gaps.leading(records[len(gaps.leading(records, args.skip)) :], args.seconds)
        else:  # the chapter's last utterances
            take = gaps.leading(records[::-1], args.seconds)[::-1]
        if sum(r["duration_s"] for r in take) < args.min_seconds or len(take) < 6:
            continue
        audio, spans, placed = gaps.with_gaps(data, take, rng, number + 2, gap_seconds)
        extra = {"group": "tail", "utterances": spans, "gaps": placed}
        manifest.append(gaps.write(output, chapter, audio, take, extra))
    gaps.save(output, manifest)


if __name__ == "__main__":
    main()
