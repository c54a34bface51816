"""How long a recording's parts should be: the default minimum part length
(`parts.MIN_PART_SECONDS`) against others, one process taking turns recording by recording
(the first rotating), each recording transcribed alone with the defaults: windows decoded,
WER, seconds, speed-up over the first minimum listed.

    python benchmarks/medium_audio.py --data data/long --output data/medium --seconds 40,60,80
    python benchmarks/part_length.py --model tiny.en --data data/medium --limit 28 \\
        --minimums 45,20 --output benchmarks/results/part_length_medium_tiny_cpu
"""

import argparse
import importlib
import json
from pathlib import Path

import torch

from whisper_eas import load_model
from whisper_eas.research.bench import run_header, take_turns, title, write_results

parts = importlib.import_module("whisper_eas.parts")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--data", default="data/medium", help="folder with manifest.jsonl")
    parser.add_argument("--limit", type=int, default=28)
    parser.add_argument(
        "--minimums", default=f"{parts.MIN_PART_SECONDS:g},20",
        help="minimum part lengths in seconds; the first is the baseline",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    records = [json.loads(line) for line in (Path(args.data) / "manifest.jsonl").open()]
    records = records[: args.limit]
    minimums = [float(m) for m in args.minimums.split(",")]
    default = parts.MIN_PART_SECONDS
    model = load_model(args.model, dtype=args.dtype)
    setups = {m: lambda m=m: setattr(parts, "MIN_PART_SECONDS", m) for m in minimums}
    runs = take_turns(model, args.data, records, setups)
    parts.MIN_PART_SECONDS = default
    baseline = sum(runs[minimums[0]]["seconds"])
    for run in runs.values():
        run["speedup"] = baseline / sum(run["seconds"])
    lengths = [record["duration_s"] for record in records]
    header = run_header(args.threads, model=args.model, dtype=args.dtype, data=args.data,
                        recordings=[r["id"] for r in records])  # fmt: skip
    lines = [
        title("Minimum part length", header), "",
        f"{len(records)} recordings of `{args.data}` ({min(lengths):.0f}-{max(lengths):.0f} s, "
        f"{sum(lengths) / 60:.1f} min), {args.model} {args.dtype}, defaults but the minimum "
        "part length, one process taking turns. Speed-up: total seconds of the first row / "
        "this row's.", "",
        "| minimum part s | windows | WER % | seconds | speed-up | fallbacks |",
        "|---|---|---|---|---|---|",
    ]  # fmt: skip
    for minimum, run in runs.items():
        cells = [
            f"{minimum:g}", run["windows"], f"{100 * run['wer']:.2f}",
            f"{sum(run['seconds']):.1f}", f"{run['speedup']:.2f}×", run["fallbacks"],
        ]  # fmt: skip
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    lines.append("")
    result = {**header, "runs": {f"{m:g}": run for m, run in runs.items()}}
    write_results(args.output, result, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
