"""The recommended EAS truncation with and without its minimum cut (`Truncate.min_dropped`),
against EAS off, on long recordings transcribed with the defaults (cut into parts decoded side
by side). One process; the three settings take turns recording by recording, the first
rotating, so the shared machine's drift reaches all alike. Time is `transcribe` end to end.

    python benchmarks/eas_min_dropped.py --model tiny.en --data data/long --limit 12 \
        --output benchmarks/results/eas_min_dropped_tiny_cpu

Why: a cut row of a batch keeps its own token count, and rows of different counts attend
apart in every decoding step; a part's window cut by a few hundred tokens saved less than
that cost.
"""

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from whisper_eas import EASConfig, load_model, transcribe
from whisper_eas.research.bench import run_header, title, write_results
from whisper_eas.research.metrics import word_error_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--data", default="data/long")
    parser.add_argument("--limit", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="benchmarks/results/eas_min_dropped_cpu")
    args = parser.parse_args()
    manifest = Path(args.data) / "manifest.jsonl"
    if not manifest.is_file():
        parser.error(f"no {manifest}: build it with benchmarks/build_long_audio.py")
    torch.set_num_threads(args.threads)
    try:
        model = load_model(args.model)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    recommended = EASConfig.recommended(args.model)
    settings = {
        "EAS off": None,
        "truncation, every cut": replace(
            recommended, rule=replace(recommended.rule, min_dropped=0)
        ),
        "truncation, cuts of 500 or more (recommended)": recommended,
    }
    records = [json.loads(line) for line in manifest.open()][: args.limit]
    seconds = {name: [] for name in settings}
    texts = {name: [] for name in settings}
    transcribe(model, f"{args.data}/{records[0]['audio']}")  # warm-up
    names = list(settings)
    for i, record in enumerate(records):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            began = time.perf_counter()
            result = transcribe(model, f"{args.data}/{record['audio']}", eas=settings[name])
            seconds[name].append(time.perf_counter() - began)
            texts[name].append(result.text)
        print(record["id"], {name: round(seconds[name][-1], 2) for name in names}, flush=True)
    references = [record["text"] for record in records]
    off = sum(seconds["EAS off"])
    result = run_header(args.threads, model=args.model, data=args.data,
                        recordings=[r["id"] for r in records], rows=[])  # fmt: skip
    lines = [title("EAS truncation's minimum cut on long recordings", result), "",
             f"{len(records)} recordings of `{args.data}`, {args.model} float32, the defaults "
             "(parts decoded side by side), greedy; the settings taking turns recording by "
             "recording.", "",
             "| setting | seconds | × EAS off | WER % | texts equal to EAS off's |",
             "|---|---|---|---|---|"]  # fmt: skip
    for name in names:
        same = sum(a == b for a, b in zip(texts[name], texts["EAS off"]))
        wer = word_error_rate(references, texts[name])
        row = {"setting": name, "seconds": seconds[name], "texts": texts[name], "wer": wer,
               "same_as_off": same}  # fmt: skip
        result["rows"].append(row)
        total = sum(seconds[name])
        lines.append(f"| {name} | {total:.1f} | {off / total:.3f}× | {100 * wer:.2f} | "
                     f"{same} of {len(records)} |")  # fmt: skip
    write_results(args.output, result, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
