"""One module constant of the core at several values (e.g. `decoding.DROP_FINISHED`), one
process taking turns recording by recording (the first rotating), each recording transcribed
alone with the defaults: windows decoded, WER, seconds, speed-up over the first value.

    python benchmarks/constant_ab.py --constant decoding.DROP_FINISHED --values inf,0.25 \\
        --model tiny.en --data data/long --limit 12 \\
        --output benchmarks/results/drop_finished_tiny_cpu
    python benchmarks/medium_audio.py --data data/long --output data/medium --seconds 40,60,80
    python benchmarks/constant_ab.py --constant parts.MIN_PART_SECONDS --values 45,20 \\
        --model tiny.en --data data/medium --limit 28 \\
        --output benchmarks/results/part_length_medium_tiny_cpu
"""

import argparse
import importlib
import json
from pathlib import Path

import torch

from whisper_eas import load_model
from whisper_eas.research.bench import run_header, take_turns, title, write_results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--constant", required=True, help="MODULE.NAME in whisper_eas")
    parser.add_argument(
        "--values", required=True, help="comma-separated; the first is the baseline"
    )
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--data", default="data/long", help="folder with manifest.jsonl")
    parser.add_argument("--limit", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    module_name, name = args.constant.rsplit(".", 1)
    try:
        module = importlib.import_module(f"whisper_eas.{module_name}")
    except ModuleNotFoundError:
        parser.error(f"no module whisper_eas.{module_name}")
    if not hasattr(module, name):
        parser.error(f"whisper_eas.{module_name} has no constant {name!r}")
    default = getattr(module, name)
    values = [type(default)(float(v)) if isinstance(default, float) else type(default)(v)
              for v in args.values.split(",")]  # fmt: skip
    records = [json.loads(line) for line in (Path(args.data) / "manifest.jsonl").open()]
    records = records[: args.limit]
    model = load_model(args.model, dtype=args.dtype)
    setups = {v: lambda v=v: setattr(module, name, v) for v in values}
    runs = take_turns(model, args.data, records, setups)
    setattr(module, name, default)
    baseline = sum(runs[values[0]]["seconds"])
    for run in runs.values():
        run["speedup"] = baseline / sum(run["seconds"])
    lengths = [record["duration_s"] for record in records]
    header = run_header(args.threads, model=args.model, dtype=args.dtype, data=args.data,
                        constant=args.constant, recordings=[r["id"] for r in records])  # fmt: skip
    lines = [
        title(f"`{args.constant}` at {args.values}", header), "",
        f"{len(records)} recordings of `{args.data}` ({min(lengths):.0f}-{max(lengths):.0f} s, "
        f"{sum(lengths) / 60:.1f} min), {args.model} {args.dtype}, defaults but `{args.constant}`"
        f" (default {default!r}), one process taking turns. Speed-up: total seconds of the "
        "first row / this row's.", "",
        f"| {name} | windows | WER % | seconds | speed-up | fallbacks |",
        "|---|---|---|---|---|---|",
    ]  # fmt: skip
    for value, run in runs.items():
        cells = [
            f"{value!r}", run["windows"], f"{100 * run['wer']:.2f}",
            f"{sum(run['seconds']):.1f}", f"{run['speedup']:.2f}×", run["fallbacks"],
        ]  # fmt: skip
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    lines.append("")
    result = {**header, "runs": {repr(v): run for v, run in runs.items()}}
    write_results(args.output, result, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
