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
import time

import torch

from whisper_eas import load_audio, load_model, transcribe
from whisper_eas.research.bench import manifest_records, run_header, title, write_results
from whisper_eas.research.metrics import word_error_rate

rules = importlib.import_module("whisper_eas.transcribe")  # not the function of that name
CURRENT = rules.cut_at_thin_segment


def before(outcome, request, *args, **kwargs):
    """The rule before: with no prompt seen, a window's first segment is never thin."""
    return CURRENT(outcome, dataclasses.replace(request, previous=[]), *args, **kwargs)


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
            runs = {v: {"texts": [], "seconds": 0.0, "windows": 0, "thin": 0} for v in ("b", "a")}
            for i, record in enumerate(records):
                wave = load_audio(f"{folder}/{record['audio']}")
                for variant in ("b", "a") if i % 2 == 0 else ("a", "b"):
                    rules.cut_at_thin_segment = before if variant == "b" else CURRENT
                    began = time.perf_counter()
                    transcription = transcribe(model, wave)
                    run = runs[variant]
                    run["seconds"] += time.perf_counter() - began
                    run["texts"].append(transcription.text)
                    run["windows"] += transcription.windows
                    run["thin"] += transcription.fallbacks.get("thin", 0)
            rules.cut_at_thin_segment = CURRENT
            references = [r["text"] for r in records]
            b, a = runs["b"], runs["a"]
            same = sum(x == y for x, y in zip(b["texts"], a["texts"]))
            wer = [100 * word_error_rate(references, r["texts"]) for r in (b, a)]
            lines.append(
                f"| {name} | {dtype} | {folder} | {same} / {len(records)} | {wer[0]:.2f} → "
                f"{wer[1]:.2f} | {b['windows']} → {a['windows']} | {b['thin']} → {a['thin']} | "
                f"{b['seconds']:.1f} → {a['seconds']:.1f} |"
            )
            result["runs"][f"{name} {dtype} {folder}"] = {"before": b, "after": a}
            print(lines[-1], flush=True)
    write_results(args.output, result, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
