"""int8 weights: int8 activations everywhere, or float32 activations for products of many rows
(the encoder), against float32; WER and RTF on the first N clips of subset300, one clip at a
time, the three systems taking turns clip by clip.

    python benchmarks/int8_activations.py --model base --limit 50 --threads 1
"""

import argparse
import time

import torch

from whisper_eas import load_audio, load_model, transcribe
from whisper_eas.quantize import quantize_int8
from whisper_eas.research.datasets import read_dataset
from whisper_eas.research.metrics import word_error_rate

DEV = "../shared/data/librispeech-dev-clean"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="base")
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    utterances = read_dataset(DEV, subset=f"{DEV}/subset300.txt")[: args.limit]
    waves = [load_audio(u.audio) for u in utterances]
    systems = {"float32": load_model(args.model), "int8": load_model(args.model, dtype="int8")}
    systems["int8, float32 activations above 32 rows"] = load_model(args.model)
    quantize_int8(systems["int8, float32 activations above 32 rows"].network, 32)
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
    for name in names:
        wer = word_error_rate(references, texts[name])
        print(f"{args.model} | {name} | WER {100 * wer:.2f} % | RTF {seconds[name] / audio:.4f}")


if __name__ == "__main__":
    main()
