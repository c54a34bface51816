"""Where EAS's speed-up comes from, for model sizes we have no weights for.

Random weights of the right shapes (speed does not depend on the values): one 30 s window
through the encoder, then a fixed-length greedy-style decoder loop (the prompt plus
`--tokens` single-token steps with the KV cache; real models emit ~30 tokens for a
LibriSpeech utterance). EAS off against EAS at (layer, sparsity); the same work otherwise.
Times are medians of `--repeats` runs after a warm-up, measured side by side in one process.

    python benchmarks/shapes.py --sizes small,large-v3-turbo --device cuda --dtype bfloat16 \
        --output benchmarks/results/shapes_cuda

On CPU (2 threads) large encoders take seconds per window; pass fewer sizes and repeats.
"""

import argparse
import statistics
import time

import torch

from whisper_eas import EASConfig, TopK
from whisper_eas.model import ModelDims, Whisper
from whisper_eas.research.bench import run_header, title, write_results

# ModelDims(n_mels, n_audio_ctx, audio width, heads, layers, n_vocab, n_text_ctx, text width,
# heads, layers)
SIZES = {
    "tiny": ModelDims(80, 1500, 384, 6, 4, 51865, 448, 384, 6, 4),
    "base": ModelDims(80, 1500, 512, 8, 6, 51865, 448, 512, 8, 6),
    "small": ModelDims(80, 1500, 768, 12, 12, 51865, 448, 768, 12, 12),
    "medium": ModelDims(80, 1500, 1024, 16, 24, 51865, 448, 1024, 16, 24),
    "large-v3": ModelDims(128, 1500, 1280, 20, 32, 51866, 448, 1280, 20, 32),
    "large-v3-turbo": ModelDims(128, 1500, 1280, 20, 32, 51866, 448, 1280, 20, 4),
}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def run_once(model: Whisper, mel: torch.Tensor, eas: EASConfig | None, n_tokens: int) -> dict:
    """Seconds in the encoder and in the decoder loop for one batch of windows."""
    device = mel.device
    synchronize(device)
    start = time.perf_counter()
    features = model.encoder(mel, eas=eas).features
    synchronize(device)
    encoded = time.perf_counter()
    cache = model.decoder.new_cache(features)
    prompt = torch.tensor([[50258, 50259, 50360, 50364]] * mel.shape[0], device=device)
    logits = model.decoder(prompt, cache, last_only=True)[:, -1]
    for _ in range(n_tokens):
        logits = model.decoder(logits.argmax(-1, keepdim=True), cache, last_only=True)[:, -1]
    synchronize(device)
    return {"encoder": encoded - start, "decoder": time.perf_counter() - encoded}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="small,large-v3-turbo")
    parser.add_argument("--eas", default="2:0.6", help="layer:sparsity")
    parser.add_argument("--tokens", type=int, default=30)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "float16", "bfloat16"))
    parser.add_argument("--output", help="path prefix for .json and .md")
    args = parser.parse_args()
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)
    layer, sparsity = args.eas.split(":")
    eas = EASConfig(int(layer), TopK(float(sparsity)))
    torch.manual_seed(0)
    rows = []
    for size in args.sizes.split(","):
        dims = SIZES[size]
        model = Whisper(dims).to(device=device, dtype=dtype).eval()
        mel = torch.randn(args.batch, dims.n_mels, 2 * dims.n_audio_ctx, device=device, dtype=dtype)
        timings = {"off": [], "eas": []}
        for config in (None, eas):  # warm-up both paths
            run_once(model, mel, config, args.tokens)
        for _ in range(args.repeats):  # interleaved, so drift hits both alike
            for label, config in (("off", None), ("eas", eas)):
                timings[label].append(run_once(model, mel, config, args.tokens))
        row = {"size": size}
        for label in ("off", "eas"):
            for part in ("encoder", "decoder"):
                row[f"{label}_{part}_s"] = statistics.median(t[part] for t in timings[label])
            row[f"{label}_total_s"] = row[f"{label}_encoder_s"] + row[f"{label}_decoder_s"]
        row["speedup"] = row["off_total_s"] / row["eas_total_s"]
        rows.append(row)
        print(
            f"{size}: off {row['off_total_s']:.3f} s, EAS {args.eas} {row['eas_total_s']:.3f} s, "
            f"{row['speedup']:.2f}x",
            flush=True,
        )
        del model
    result = {
        **run_header(torch.get_num_threads(), args.device),
        "dtype": args.dtype,
        "batch": args.batch,
        "decoder_tokens": args.tokens,
        "eas": args.eas,
        "repeats": args.repeats,
        "rows": rows,
    }
    if args.output:
        lines = [
            title(f"EAS {args.eas} vs off on random weights", result),
            "",
            f"{args.dtype}, batch {args.batch}, {args.tokens} decoder steps; medians of "
            f"{args.repeats} runs.",
            "",
            "| size | off: encoder s | off: decoder s | EAS: encoder s | EAS: decoder s | "
            "end-to-end speed-up |",
            "|---|---|---|---|---|---|",
        ]
        lines += [
            f"| {r['size']} | {r['off_encoder_s']:.3f} | {r['off_decoder_s']:.3f} | "
            f"{r['eas_encoder_s']:.3f} | {r['eas_decoder_s']:.3f} | {r['speedup']:.2f}× |"
            for r in rows
        ]
        write_results(args.output, result, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
