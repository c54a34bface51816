"""int8's decoding step with its bf16 cross-attention keys as the left operand of the score
product (`attention.attention`, the default) against the usual `q @ k.T`, one process taking
turns recording by recording (the first rotating), each recording transcribed alone with the
defaults (int8, so bf16 cross K/V where the CPU has bf16 instructions): windows, WER, seconds.

    python benchmarks/bf16_keys_first.py --model base --data data/long --limit 12 \\
        --output benchmarks/results/bf16_keys_first_base_cpu
"""

import argparse
import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F

import whisper_eas.model as model_module
from whisper_eas import load_model
from whisper_eas.research.bench import run_header, take_turns, title, write_results

keys_first = model_module.attention


def queries_first(q, k, v, *, mask=None, backend="sdpa"):
    """`attention.attention` before the change: q @ k.T whatever the dtype."""
    if backend == "sdpa":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    scores = (q @ k.transpose(-1, -2)).float() / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1).to(v.dtype) @ v


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--data", default="data/long", help="folder with manifest.jsonl")
    parser.add_argument("--limit", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    records = [json.loads(line) for line in (Path(args.data) / "manifest.jsonl").open()]
    records = records[: args.limit]
    model = load_model(args.model, dtype="int8")
    variants = {"q @ k.T": queries_first, "k @ q.T": keys_first}
    setups = {
        name: lambda f=f: setattr(model_module, "attention", f) for name, f in variants.items()
    }
    runs = take_turns(model, args.data, records, setups)
    model_module.attention = keys_first
    baseline = sum(runs["q @ k.T"]["seconds"])
    for run in runs.values():
        run["speedup"] = baseline / sum(run["seconds"])
    header = run_header(args.threads, model=args.model, dtype="int8", data=args.data,
                        recordings=[r["id"] for r in records])  # fmt: skip
    lines = [
        title("int8: bf16 cross-attention scores, keys first or queries first", header), "",
        f"{len(records)} recordings of `{args.data}`, {args.model} int8, defaults, one process "
        "taking turns. Speed-up: total seconds of the first row / this row's.", "",
        "| scores | windows | WER % | seconds | speed-up |",
        "|---|---|---|---|---|",
    ]  # fmt: skip
    for name, run in runs.items():
        cells = [name, run["windows"], f"{100 * run['wer']:.2f}", f"{sum(run['seconds']):.1f}",
                 f"{run['speedup']:.2f}×"]  # fmt: skip
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    lines.append("")
    write_results(args.output, {**header, "runs": runs}, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
