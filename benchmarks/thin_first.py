"""A window whose first segment is thin (far fewer words than the speech the VAD hears in it),
decoded again without the previous text, against the rule before (a window's first segment
never counted as thin): one process taking turns recording by recording, each transcribed
alone with the defaults. Texts, WER, windows and how often the rule fired.

    python benchmarks/thin_first.py --data data/long --specs base:int8,tiny.en:float32 \\
        --limit 12 --output benchmarks/results/thin_first_segment_long_cpu
"""

import argparse
import dataclasses
import importlib

import torch

from whisper_eas import load_model
from whisper_eas.research.bench import (
    manifest_records,
    run_header,
    take_turns,
    title,
    write_results,
)

rules = importlib.import_module("whisper_eas.transcribe")  # not the function of that name
CURRENT = rules.cut_at_thin_segment


def before(outcome, request, *args, **kwargs):
    """The rule before: with no prompt seen, a window's first segment is never thin."""
    return CURRENT(outcome, dataclasses.replace(request, previous=[]), *args, **kwargs)


def use(rule) -> None:
    rules.cut_at_thin_segment = rule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/long", help="folders, comma-separated")
    parser.add_argument("--specs", default="base:int8,tiny.en:float32", help="model:dtype,...")
    parser.add_argument("--limit", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="benchmarks/results/thin_first_segment_long_cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = {**run_header(args.threads), "runs": {}}
    lines = [
        title("A thin first segment: its window decoded again without the prompt", result), "",
        f"First {args.limit} recordings of each folder, each transcribed alone (defaults), "
        "before and after taking turns in one process.", "",
        "| model | dtype | data | same texts | WER % before → after | windows | fired | s |",
        "|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for spec in args.specs.split(","):
        name, dtype = spec.split(":")
        model = load_model(name, dtype=dtype)
        for folder in args.data.split(","):
            records = manifest_records(folder, args.limit)
            runs = take_turns(model, folder, records, {"b": lambda: use(before),
                                                       "a": lambda: use(CURRENT)})  # fmt: skip
            use(CURRENT)
            b, a = runs["b"], runs["a"]
            same = sum(x == y for x, y in zip(b["texts"], a["texts"]))
            fired = [run["fallbacks"].get("thin", 0) for run in (b, a)]
            lines.append(
                f"| {name} | {dtype} | {folder} | {same} / {len(records)} | "
                f"{100 * b['wer']:.2f} → {100 * a['wer']:.2f} | {b['windows']} → "
                f"{a['windows']} | {fired[0]} → {fired[1]} | {sum(b['seconds']):.1f} → "
                f"{sum(a['seconds']):.1f} |"
            )
            result["runs"][f"{name} {dtype} {folder}"] = {"before": b, "after": a}
            print(lines[-1], flush=True)
    write_results(args.output, result, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
