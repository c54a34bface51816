"""Long runs of digital silence as the VAD reads them: as faint hiss (`vad.DITHER`, the
default) against as zeros (`DITHER = 0`, before 2026-12-07). One process, the two taking turns
recording by recording (the first rotating), each recording transcribed alone with the
defaults and word timestamps; only recordings holding a run of `vad.ZERO_RUN_S` or more of
zeros are read (on the others the two are the same to the bit). WER, words placed inside a
gap (gaps.py's rule), seconds, and where Silero first hears speech after each silent gap.

    python benchmarks/tail_gaps.py --kind silence --skip 0 --min-seconds 100 --seconds 120 \\
        --gap-seconds 30,90 --seed 47 --output data/long_silences
    python benchmarks/zero_runs.py --model tiny.en --data data/long_silences --limit 40 \\
        --output benchmarks/results/zero_runs_long_silences_tiny_cpu
"""

import statistics
import sys
from pathlib import Path

import numpy as np
import torch

from whisper_eas import load_audio, load_model, vad
from whisper_eas.research.bench import (
    manifest_records,
    run_header,
    take_turns,
    title,
    turns_arguments,
    write_results,
)

sys.path.insert(0, str(Path(__file__).parent))
from gaps import words_in_gaps  # noqa: E402

VARIANTS = {"zeros": 0.0, "hiss": vad.DITHER}


def onset_chunks(audio: np.ndarray, gaps: list, dither: float) -> list[int]:
    """For each silent gap, the chunks from its end to the first the VAD hears as speech."""
    vad.DITHER = dither
    probs = vad.probabilities(audio)
    onsets = []
    for kind, _, end in gaps:
        if kind == "silence":
            first = int(end * vad.SAMPLE_RATE) // vad.CHUNK
            heard = [i for i in range(first, len(probs)) if probs[i] >= 0.5]
            onsets.append(heard[0] - first if heard else len(probs) - first)
    return onsets


def main() -> None:
    parser = turns_arguments(__doc__, data="data/long_silences", limit=40)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    records, audios = [], []
    for record in manifest_records(args.data, args.limit, args.pick):
        audio = torch.from_numpy(load_audio(str(Path(args.data) / record["audio"])))
        if vad.with_hiss(audio) is not audio:
            records.append(record)
            audios.append(audio.numpy())
    if not records:
        sys.exit(f"no recording of {args.data} holds {vad.ZERO_RUN_S} s of zeros")
    in_gaps = dict.fromkeys(VARIANTS, 0)

    def count_in_gaps(name, record, result):
        in_gaps[name] += words_in_gaps(result, record["gaps"])

    setups = {name: lambda v=value: setattr(vad, "DITHER", v) for name, value in VARIANTS.items()}
    runs = take_turns(model, args.data, records, setups, count_in_gaps, word_timestamps=True)
    for name, value in VARIANTS.items():
        runs[name]["in_gaps"] = in_gaps[name]
        runs[name]["onsets"] = [n for audio, record in zip(audios, records)
                                for n in onset_chunks(audio, record["gaps"], value)]  # fmt: skip
    vad.DITHER = VARIANTS["hiss"]
    header = run_header(args.threads, model=args.model, data=args.data, recordings=len(records))
    same = sum(a == b for a, b in zip(runs["zeros"]["texts"], runs["hiss"]["texts"]))
    lines = [
        title("Long runs of digital silence read as hiss or as zeros", header), "",
        f"{len(records)} recordings of `{args.data}` holding {vad.ZERO_RUN_S} s or more of "
        f"zeros, {args.model}, float32, defaults, word timestamps; the two variants taking turns "
        f"in one process. The same text on {same} of {len(records)}. Onset: chunks of 32 ms "
        "from a silent gap's end to the first the VAD hears as speech (median / mean).", "",
        "| zeros read as | WER % | words in gaps | seconds | onset median / mean |",
        "|---|---|---|---|---|",
    ]  # fmt: skip
    for name, run in runs.items():
        onsets = run["onsets"]
        lines.append(
            f"| {name} | {run['wer'] * 100:.2f} | {run['in_gaps']} | {sum(run['seconds']):.1f} "
            f"| {statistics.median(onsets):.0f} / {statistics.mean(onsets):.2f} |"
        )
    write_results(args.output, {**header, "runs": runs}, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
