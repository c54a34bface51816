"""A decoding step with self-attention's query, key and value as one stacked product
(`MultiHeadAttention.project_qkv`, the default) against three products, the two taking turns
in one process: ms per step (median of the rounds), speed-up, and whether the logits agree
to the bit.

    python benchmarks/stacked_qkv.py --models tiny.en,base --dtypes float32,int8 \\
        --batches 1,8 --output benchmarks/results/stacked_qkv_cpu
"""

import argparse
import statistics
import time

import torch

from whisper_eas import load_audio, load_model
from whisper_eas.audio import N_SAMPLES, log_mel_spectrogram, pad_or_trim
from whisper_eas.model import MultiHeadAttention
from whisper_eas.research.bench import run_header, step_table, title, write_results

stacked = MultiHeadAttention.project_qkv


def step_times(model, batch: int, audio, rounds: int, steps: int) -> dict:
    """Per variant the median ms per step over `rounds` turns, and whether the two variants'
    logits (after the prompt and the warm-up steps) agree to the bit."""
    decoder = model.network.decoder
    mel = log_mel_spectrogram(pad_or_trim(audio[:N_SAMPLES]), model.dims.n_mels)
    language = "en" if model.tokenizer.multilingual else None
    prompt = torch.tensor([model.tokenizer.sot_sequence(language, timestamps=True)] * batch)
    variants = {"three products": MultiHeadAttention.project_apart, "stacked": stacked}
    times = {name: [] for name in variants}
    logits = {}
    with torch.inference_mode():
        encoded = model.network.encoder(mel[None].expand(batch, -1, -1))
        for _ in range(rounds):
            for name, project in variants.items():
                MultiHeadAttention.project_qkv = project
                cache = decoder.new_cache(encoded)
                outputs = [decoder(prompt, cache)[:, -1]]
                token = torch.full((batch, 1), 440)  # " the"
                for _ in range(5):  # warm-up
                    outputs.append(decoder(token, cache)[:, -1])
                began = time.perf_counter()
                for _ in range(steps):
                    decoder(token, cache)
                times[name].append(1000 * (time.perf_counter() - began) / steps)
                logits[name] = torch.cat(outputs)
    MultiHeadAttention.project_qkv = stacked
    return {"ms": {name: statistics.median(t) for name, t in times.items()},
            "same_logits": torch.equal(*logits.values())}  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--dtypes", default="float32,int8")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--audio", default="data/long/audio/1272-141231.wav")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    audio = load_audio(args.audio)
    rows = []
    for name in args.models.split(","):
        for dtype in args.dtypes.split(","):
            model = load_model(name, dtype=dtype)
            for batch in map(int, args.batches.split(",")):
                got = step_times(model, batch, audio, args.rounds, args.steps)
                rows.append({"model": name, "dtype": dtype, "batch": batch, **got})
                print(rows[-1])
    header = run_header(args.threads, audio=args.audio, rounds=args.rounds, steps=args.steps)
    lines = [
        title("Decoding step: query, key and value stacked or three products", header), "",
        f"One window of `{args.audio}`; {args.steps} steps after the prompt, the two "
        f"variants taking turns {args.rounds} times in one process; median ms per step.", "",
        *step_table(rows, "three products", "stacked"), "",
    ]  # fmt: skip
    write_results(args.output, {**header, "rows": rows}, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
