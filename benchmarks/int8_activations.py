"""int8 weights: for products of many rows (the encoder), int8 activations with one scale per
row (the default) or float32 activations, against float32; WER and RTF on N short clips of
subset300 or N "heldout" speech-filled windows (`benchmarks/build_long_audio.py`), from
`--start`, one at a time, the three systems taking turns.

    python benchmarks/int8_activations.py --model base --group windows --limit 24
"""

import argparse
import json
import time
from pathlib import Path

import torch

from whisper_eas import load_audio, load_model, transcribe
from whisper_eas.quantize import quantize_int8
from whisper_eas.research.datasets import read_dataset
from whisper_eas.research.metrics import word_error_rate

DEV = "../shared/data/librispeech-dev-clean"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--group", choices=("short", "windows"), default="short")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.group == "short":
        utterances = read_dataset(DEV, subset=f"{DEV}/subset300.txt")
    else:
        manifest = Path("data/windows/manifest.jsonl").read_text().splitlines()
        heldout = {r["id"] for r in map(json.loads, manifest) if r["group"] == "heldout"}
        windows = [u for u in read_dataset("data/windows") if u.id in heldout]
        utterances = windows
    utterances = utterances[args.start : args.start + args.limit]
    waves = [load_audio(u.audio) for u in utterances]
    systems = {"float32": load_model(args.model)}
    for label, many_rows in (("int8, float32 rows", "float32"), ("int8 (default)", "per_row")):
        systems[label] = load_model(args.model)
        quantize_int8(systems[label].network, many_rows=many_rows)
    language = None if args.model.endswith(".en") else "en"
    names = list(systems)
    texts, seconds = {n: [] for n in names}, dict.fromkeys(names, 0.0)
    for index, wave in enumerate(waves):
        for name in names[index % 3 :] + names[: index % 3]:
            began = time.perf_counter()
            texts[name].append(transcribe(systems[name], wave, language=language).text)
            seconds[name] += time.perf_counter() - began
    audio = sum(len(w) for w in waves) / 16000
    references = [u.text for u in utterances]
    baseline = word_error_rate(references, texts["float32"])
    for name in names:
        wer = word_error_rate(references, texts[name])
        accuracy = (1 - wer) / (1 - baseline)
        print(
            f"{args.model} | {name} | WER {100 * wer:.2f} % | accuracy {accuracy:.4f} | "
            f"RTF {seconds[name] / audio:.4f}"
        )


if __name__ == "__main__":
    main()
