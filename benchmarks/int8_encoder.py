"""int8 with its encoder in int8 against int8 with its encoder in bfloat16 (`quantize_int8(...,
encoder_bf16=...)`; the default on a CPU with AMX), one process taking turns recording by
recording (the first rotating), each recording transcribed alone with the defaults: windows
decoded, WER, seconds, speed-up over the int8 encoder.

    python benchmarks/int8_encoder.py --model tiny.en --data data/long --limit 12 \\
        --output benchmarks/results/int8_encoder_tiny_cpu
"""

import argparse
import json
from pathlib import Path

import torch

from whisper_eas import load_model
from whisper_eas.quantize import quantize_int8
from whisper_eas.research.bench import run_header, take_turns, title, write_results

VARIANTS = {"int8 encoder": False, "bf16 encoder": True}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--data", default="data/long", help="folder with manifest.jsonl")
    parser.add_argument("--limit", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    records = [json.loads(line) for line in (Path(args.data) / "manifest.jsonl").open()]
    records = records[: args.limit]
    model = load_model(args.model)
    networks = {
        name: quantize_int8(load_model(args.model).network, encoder_bf16=bf16)
        for name, bf16 in VARIANTS.items()
    }
    setups = {
        name: lambda n=network: setattr(model, "network", n) for name, network in networks.items()
    }
    runs = take_turns(model, args.data, records, setups)
    baseline = sum(runs["int8 encoder"]["seconds"])
    for run in runs.values():
        run["speedup"] = baseline / sum(run["seconds"])
    lengths = [record["duration_s"] for record in records]
    header = run_header(args.threads, model=args.model, data=args.data,
                        recordings=[r["id"] for r in records])  # fmt: skip
    lines = [
        title("int8: the encoder in int8 or in bfloat16", header), "",
        f"{len(records)} recordings of `{args.data}` ({min(lengths):.0f}-{max(lengths):.0f} s, "
        f"{sum(lengths) / 60:.1f} min), {args.model}, int8 decoder either way, defaults, one "
        "process taking turns. Speed-up: total seconds of the first row / this row's.", "",
        "| encoder | windows | WER % | seconds | speed-up | fallbacks |",
        "|---|---|---|---|---|---|",
    ]  # fmt: skip
    for name, run in runs.items():
        cells = [
            name, run["windows"], f"{100 * run['wer']:.2f}", f"{sum(run['seconds']):.1f}",
            f"{run['speedup']:.2f}×", run["fallbacks"],
        ]  # fmt: skip
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    lines.append("")
    write_results(args.output, {**header, "runs": runs}, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
