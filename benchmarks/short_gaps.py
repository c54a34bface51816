"""Short clips with a long non-speech stretch: two dev-clean utterances of 3-8 s from each
chapter and one 8-15 s gap (silence, white and pink noise, mains hum or synthetic music, as
`data/gaps`), the whole under 29 s, so that it is one window. The gap lies between the two
utterances, before them or after them, in turn: trailing noise after speech is where Whisper
is known to write "Thank you." The gap positions go in the manifest, as `data/gaps`'s.

    python benchmarks/short_gaps.py --output data/short_gaps
    python benchmarks/gaps.py --models tiny.en,base --data data/short_gaps --pick first \\
        --limit 47 --systems "ours,ours --eas,faster-whisper,faster-whisper vad_filter" \\
        --output benchmarks/results/short_gaps47_cpu
"""

import argparse
from pathlib import Path

import build_long_audio as gaps
import numpy as np

from whisper_eas.audio import SAMPLE_RATE, load_audio

LAYOUTS = ("middle", "leading", "trailing")  # where the gap goes, chapter after chapter
LONGEST_S = 29.0  # a clip's length at most: one window, with room for the model's last words
PAUSE_S = 0.6  # between the two utterances when the gap is not there


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/librispeech-dev-clean")
    parser.add_argument("--output", default="data/short_gaps")
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()
    data, output = Path(args.data), Path(args.output)
    rng = np.random.default_rng(args.seed)
    manifest = []
    for number, (chapter, records) in enumerate(gaps.chapters(data).items()):
        short = [r for r in records if 3.0 <= r["duration_s"] <= 8.0]
        if len(short) < 2:
            continue
        first = int(rng.integers(0, len(short) - 1))
        take = short[first : first + 2]
        layout = LAYOUTS[number % len(LAYOUTS)]
        kind = gaps.GAP_KINDS[(number // len(LAYOUTS)) % len(gaps.GAP_KINDS)]
        speech = [load_audio(data / r["audio"]) for r in take]
        room = LONGEST_S - sum(len(a) for a in speech) / SAMPLE_RATE - PAUSE_S
        gap = gaps.non_speech(kind, min(rng.uniform(8.0, 15.0), room), rng)
        pause = np.zeros(round(PAUSE_S * SAMPLE_RATE), dtype=np.float32)
        pieces = {
            "middle": [speech[0], gap, speech[1]],
            "leading": [gap, speech[0], pause, speech[1]],
            "trailing": [speech[0], pause, speech[1], gap],
        }[layout]
        spans, placed, t, said = [], [], 0.0, iter(take)
        for piece in pieces:
            seconds = len(piece) / SAMPLE_RATE
            if piece is gap:
                placed.append([kind, round(t, 3), round(t + seconds, 3)])
            elif piece is not pause:
                spans.append([next(said)["id"], round(t, 3), round(t + seconds, 3)])
            t += seconds
        extra = {"group": "short", "utterances": spans, "gaps": placed}
        manifest.append(gaps.write(output, f"{chapter}-{layout}", np.concatenate(pieces), take,
                                   extra))  # fmt: skip
    gaps.save(output, manifest)


if __name__ == "__main__":
    main()
