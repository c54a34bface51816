"""Where a row's numbers depend on its batch: the encoder, the decoder, or the tokens.

On the CPU a file's numbers are its own, to the last bit (README, "Batch invariance"). On an
H200 (2026-12-04) base in float16 gave one of `tests/test_cuda.py`'s eight files other tokens
in a batch of eight than alone. This finds where, for the same eight inputs (short clips, a
40 s recording, a looping one, silence), in three measurements:
- the encoder: each input's first window encoded alone against in one batch of eight;
- the decoder: each row's logits alone against in a batch, for the prompt and 20 steps fed the
  tokens the row chose alone, on the row's own encoder features;
- the tokens: `transcribe` alone against in a batch of eight (each file whole), as the library
  runs, and with the encoder run one window at a time as on the CPU (`windows.encode`).
It also maps the kernels themselves, on random numbers of the model's shapes: for which row
counts M a product gives a row the bits it gets at M = 1 and at M = 8 (a matrix product picks
its kernel by shape), and whether a row's place among the others matters. And it tries two
cures on the tokens: every product run on whole blocks of `--block` rows (a fixed shape), and
that with the encoder one window at a time.
It runs anywhere; on the CPU every row should be equal. Its answer on the H200
(benchmarks/results/cuda_invariance_base.md): the encoder; since commit `85f2921` the library
encodes one window at a time on every device, so "as the library runs" and "encoder one window
at a time" now measure the same. Prints JSON (and writes it with `--output`), to be run in a
GPU lease and read here:

    python benchmarks/cuda_invariance.py --model base --dtype float16 --output out.json
"""

import argparse
import importlib
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from whisper_eas import (
    EASConfig,
    load_audio,
    load_model,
    log_mel_spectrogram,
    pad_or_trim,
    transcribe,
)

DATA = Path("tests/data")


def eight_inputs() -> list[np.ndarray]:
    """tests/test_transcribe.py's batch_of_eight, built here (benchmarks do not import tests)."""
    records = [json.loads(line) for line in (DATA / "manifest.jsonl").open()]
    clips = [load_audio(DATA / r["audio"]) for r in records]
    jfk, gap = load_audio(DATA / "jfk.flac"), np.zeros(8000, dtype=np.float32)
    joined = np.concatenate([x for clip in clips[:4] for x in (clip, gap)])
    repeated = np.concatenate([jfk, gap, jfk, gap, jfk])
    return [*clips[:5], joined, repeated, np.zeros(160_000, dtype=np.float32)]


def compare(alone: torch.Tensor, together: torch.Tensor) -> dict:
    return {
        "equal": bool(torch.equal(alone, together)),
        "max_abs_diff": float((alone.float() - together.float()).abs().max()),
    }


def encoder_rows(model, mels: torch.Tensor) -> list[dict]:
    encoder = model.network.encoder
    together = encoder(mels).features
    return [compare(encoder(mels[i : i + 1]).features[0], together[i]) for i in range(len(mels))]


def decoder_rows(model, features: torch.Tensor, steps: int = 20) -> list[dict]:
    """Each row alone (greedy), then all rows together fed the tokens each chose alone."""
    decoder, tokenizer = model.network.decoder, model.tokenizer
    language = "en" if tokenizer.multilingual else None
    prompt = tokenizer.sot_sequence(language) + [tokenizer.no_timestamps]
    device = features.device
    alone_logits, chosen = [], []
    for row in range(len(features)):
        cache = decoder.new_cache(features[row : row + 1])
        tokens = torch.tensor([prompt], device=device)
        logits, picked = [], []
        for _ in range(steps + 1):
            out = decoder(tokens, cache, last_only=True)[:, -1]
            logits.append(out[0])
            tokens = out.argmax(-1, keepdim=True)
            picked.append(int(tokens))
        alone_logits.append(torch.stack(logits))
        chosen.append(picked)
    cache = decoder.new_cache(features)
    tokens = torch.tensor([prompt] * len(features), device=device)
    together = []
    for step in range(steps + 1):
        together.append(decoder(tokens, cache, last_only=True)[:, -1])
        tokens = torch.tensor([[picked[step]] for picked in chosen], device=device)
    together = torch.stack(together, dim=1)
    return [compare(alone_logits[i], together[i]) for i in range(len(features))]


ROW_COUNTS = [*range(1, 17), 24, 32, 40, 48, 64, 96, 128, 192, 256, 448, 1024, 1500, 1792, 3000]


def kernel_map(dims, dtype: torch.dtype, device: str) -> dict:
    """For each product shape of the model (out x in): the row counts whose first row gets the
    bits it gets at M = 1, at M = 8 and at M = 64; and whether a row placed 5th of 8 gets the
    bits of the first. Then batched attention products (B * H matrices of one query)."""
    generator = torch.Generator(device="cpu").manual_seed(0)
    d, result = dims.n_text_state, {}
    for n_out, n_in in [(d, d), (4 * d, d), (d, 4 * d), (dims.n_vocab, d)]:
        weight = torch.randn(n_out, n_in, generator=generator).div(n_in**0.5)
        x = torch.randn(max(ROW_COUNTS), n_in, generator=generator)
        weight, x = weight.to(device, dtype), x.to(device, dtype)
        first = {m: F.linear(x[:m], weight)[0] for m in ROW_COUNTS}
        same_as = {
            r: [m for m in ROW_COUNTS if torch.equal(first[m], first[r])] for r in (1, 8, 64)
        }
        moved = x[:8].clone()
        moved[4] = x[0]
        result[f"{n_out}x{n_in}"] = {
            **{f"same_as_M{r}": rows for r, rows in same_as.items()},
            "place_matters_at_M8": not torch.equal(F.linear(moved, weight)[4], first[8]),
        }
    heads, head_dim = dims.n_text_head, d // dims.n_text_head
    keys = torch.randn(8 * heads, 448, head_dim, generator=generator).to(device, dtype)
    query = torch.randn(8 * heads, 1, head_dim, generator=generator).to(device, dtype)
    scores = {b: (query[: b * heads] @ keys[: b * heads].transpose(-1, -2))[:heads]
              for b in range(1, 9)}  # fmt: skip
    result["attention_rows_same_as_alone"] = [
        torch.equal(scores[b], scores[1]) for b in range(1, 9)
    ]
    return result


def in_blocks(block: int):
    """`model.linear` with every product on whole blocks of `block` rows (the last padded with
    zeros): one kernel whatever the batch, and a row's bits depend on its place in a block only
    if the kernel's do."""
    model_module = importlib.import_module("whisper_eas.model")
    plain = model_module.linear

    def blocked(x, weight, bias=None, packed=None):
        if x.device.type != "cuda":
            return plain(x, weight, bias, packed)
        flat = x.reshape(-1, x.shape[-1])
        rows = flat.shape[0]
        padded = torch.cat([flat, flat.new_zeros(-rows % block, flat.shape[1])])
        out = torch.cat([F.linear(chunk, weight, bias) for chunk in padded.split(block)])
        return out[:rows].reshape(*x.shape[:-1], -1)

    return model_module, plain, blocked


def token_rows(model, inputs: list[np.ndarray], eas=None) -> list[bool]:
    together = transcribe(model, inputs, eas=eas, batch_size=8, max_parts=1)
    return [together[i].tokens == transcribe(model, w, eas=eas, batch_size=1).tokens
            for i, w in enumerate(inputs)]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny.en", help="name or folder")
    parser.add_argument("--dtype", default="float16")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output")
    parser.add_argument("--block", type=int, default=64, help="rows per product, for the cure")
    args = parser.parse_args()
    model = load_model(args.model, device=args.device, dtype=args.dtype)
    inputs = eight_inputs()
    mels = torch.stack([log_mel_spectrogram(pad_or_trim(torch.from_numpy(w))) for w in inputs])
    mels = mels.to(args.device, model.dtype)
    with torch.inference_mode():
        features = torch.cat([model.network.encoder(mels[i : i + 1]).features for i in range(8)])
        result = {
            "model": args.model, "dtype": args.dtype, "device": args.device,
            "torch": torch.__version__, "cuda": torch.version.cuda,
            "gpu": torch.cuda.get_device_name() if args.device == "cuda" else None,
            "kernels": kernel_map(model.dims, model.dtype, args.device),
            "encoder": encoder_rows(model, mels), "decoder": decoder_rows(model, features),
        }  # fmt: skip
    print(json.dumps(result["kernels"]), flush=True)
    eas = EASConfig.recommended("tiny.en")  # the setting tests/test_cuda.py batches with
    result["tokens_as_is"] = token_rows(model, inputs)
    result["tokens_as_is_eas"] = token_rows(model, inputs, eas)
    windows = importlib.import_module("whisper_eas.windows")
    batched_encode = windows.encode

    def one_window_at_a_time(model, rows, eas, backends="sdpa"):
        if len(rows) == 1:
            return batched_encode(model, rows, eas, backends)
        outputs = [batched_encode(model, [w], eas, backends) for w in rows]
        return windows.EncoderOutput.cat(outputs)

    model_module, plain_linear, blocked_linear = in_blocks(args.block)
    try:
        model_module.linear = blocked_linear
        result[f"tokens_blocks_of_{args.block}"] = token_rows(model, inputs)
        windows.encode = one_window_at_a_time
        result["tokens_blocks_and_encoder_alone"] = token_rows(model, inputs)
        model_module.linear = plain_linear
        result["tokens_encoder_alone"] = token_rows(model, inputs)
        result["tokens_encoder_alone_eas"] = token_rows(model, inputs, eas)
    finally:
        windows.encode, model_module.linear = batched_encode, plain_linear
    text = json.dumps(result, indent=1)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")


if __name__ == "__main__":
    main()
