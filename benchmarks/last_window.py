"""A part's (or a file's) last window with and without the rules that finish it in one pass
(`transcribe.END_MARGIN_S`: no end of text on a segment start while the VAD hears speech after
it; `TAIL_MIN_HEARD_S`: a rest without speech is not decoded). One process, the two taking
turns recording by recording (the first alternating), each recording transcribed alone with
the defaults: windows decoded, WER, seconds.

    python benchmarks/last_window.py --model tiny.en --data data/long_rest --limit 16 \\
        --output benchmarks/results/last_window_tiny_cpu
"""

import importlib

import torch

from whisper_eas import load_model
from whisper_eas.research.bench import (
    manifest_records,
    run_header,
    take_turns,
    title,
    turns_arguments,
    write_results,
)

core = importlib.import_module("whisper_eas.transcribe")  # the package exports a function
RULES = {"without": (float("inf"), -1.0), "with": (core.END_MARGIN_S, core.TAIL_MIN_HEARD_S)}


def set_rules(end_margin: float, tail_min_heard: float) -> None:
    core.END_MARGIN_S, core.TAIL_MIN_HEARD_S = end_margin, tail_min_heard


def main():
    parser = turns_arguments(__doc__, data="data/long_rest", limit=16)
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    records = manifest_records(args.data, args.limit, args.pick)
    model = load_model(args.model, dtype=args.dtype)
    setups = {name: lambda name=name: set_rules(*RULES[name]) for name in RULES}
    runs = take_turns(model, args.data, records, setups)
    set_rules(*RULES["with"])
    speedup = sum(runs["without"]["seconds"]) / sum(runs["with"]["seconds"])
    header = run_header(args.threads, model=args.model, dtype=args.dtype, data=args.data,
                        recordings=[r["id"] for r in records])  # fmt: skip
    lines = [
        title("A part's last window, with and without the rules that finish it", header), "",
        f"{len(records)} recordings of `{args.data}`, {args.model} {args.dtype}, defaults, "
        "one process taking turns. Speed-up: total seconds without / with.", "",
        "| rules | windows | WER % | seconds | fallbacks |", "|---|---|---|---|---|",
    ]  # fmt: skip
    for name, run in runs.items():
        lines.append(f"| {name} | {run['windows']} | {100 * run['wer']:.2f} | "
                     f"{sum(run['seconds']):.1f} | {run['fallbacks']} |")  # fmt: skip
    lines += ["", f"Speed-up with the rules: **{speedup:.2f}×**.", ""]
    write_results(args.output, {**header, "runs": runs, "speedup": speedup}, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
