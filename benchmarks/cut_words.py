"""Short windows that loop: clips of 0.4-1.5 s cut anywhere in dev-clean utterances (a word or
two, often cut mid-word), each transcribed alone with `windows.LOOP_TOKENS_PER_SECOND` at
each value, one process taking turns clip by clip. A decode that loops on such a clip used to
run to openai-whisper's 224 tokens at every temperature; the limit stops it at what the audio
can hold. Texts should be the same at each value; time is what changes.

    python benchmarks/cut_words.py --models tiny.en,base --clips 60 \\
        --output benchmarks/results/loop_limit_cut_words_cpu
"""

import argparse
import importlib
import random
import statistics
import time
from pathlib import Path

import torch

from whisper_eas import load_audio, load_model, transcribe
from whisper_eas.research.bench import manifest_records, run_header, title, write_results

DEV_CLEAN = "../shared/data/librispeech-dev-clean"


def cut_clips(folder: str, count: int, seed: int = 0) -> list[dict]:
    """`count` cuts of 0.4-1.5 s at random places in random utterances (the same for a seed)."""
    draw = random.Random(seed)
    cuts = []
    for record in draw.sample(manifest_records(folder, 10**9), count):
        wave = load_audio(Path(folder) / record["audio"])
        length = draw.uniform(0.4, 1.5)
        start = draw.uniform(0.0, max(0.0, len(wave) / 16000 - length))
        piece = wave[int(start * 16000) : int((start + length) * 16000)]
        cuts.append({"id": record["id"], "start": round(start, 2), "wave": piece})
    return cuts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=DEV_CLEAN)
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--clips", type=int, default=60)
    parser.add_argument("--values", default="1000000,15", help="the first is the baseline")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="benchmarks/results/loop_limit_cut_words_cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rules = importlib.import_module("whisper_eas.windows")
    default = rules.LOOP_TOKENS_PER_SECOND
    values = [float(v) for v in args.values.split(",")]
    cuts = cut_clips(args.data, args.clips)
    result = {**run_header(args.threads), "clips": [(c["id"], c["start"]) for c in cuts],
              "seconds": [len(c["wave"]) / 16000 for c in cuts], "models": {}}  # fmt: skip
    for name in args.models.split(","):
        model = load_model(name)
        transcribe(model, cuts[0]["wave"])  # warm-up
        runs = {v: {"seconds": [], "texts": [], "fallbacks": []} for v in values}
        for i, cut in enumerate(cuts):
            for value in values[i % len(values) :] + values[: i % len(values)]:
                rules.LOOP_TOKENS_PER_SECOND = value
                began = time.perf_counter()
                transcription = transcribe(model, cut["wave"])
                runs[value]["seconds"].append(time.perf_counter() - began)
                runs[value]["texts"].append(transcription.text)
                runs[value]["fallbacks"].append(dict(transcription.fallbacks))
        rules.LOOP_TOKENS_PER_SECOND = default
        result["models"][name] = {str(v): run for v, run in runs.items()}

    lines = [
        title("Short windows that loop: the token limit per second of audio", result), "",
        f"{len(cuts)} cuts of 0.4-1.5 s ({sum(result['seconds']):.0f} s) at random places in "
        f"`{args.data}` utterances (seed 0), each transcribed alone, float32, defaults but "
        f"`windows.LOOP_TOKENS_PER_SECOND` (default {default}), one process taking turns. "
        "Retried: clips decoded again at a higher temperature.", "",
        "| model | tokens a second | total s | median s | slowest s | retried | same text as "
        "the first row | speed-up |", "|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for name, runs in result["models"].items():
        first = runs[str(values[0])]
        for value, run in runs.items():
            same = sum(a == b for a, b in zip(first["texts"], run["texts"]))
            retried = sum(1 for f in run["fallbacks"] if f.get("temperature"))
            lines.append(
                f"| {name} | {value} | {sum(run['seconds']):.1f} | "
                f"{statistics.median(run['seconds']):.2f} | {max(run['seconds']):.2f} | "
                f"{retried} | {same} / {len(cuts)} | "
                f"{sum(first['seconds']) / sum(run['seconds']):.2f}× |"
            )
    write_results(args.output, result, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
