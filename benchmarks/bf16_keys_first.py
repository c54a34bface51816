"""int8's decoding step with its bf16 cross-attention keys as the left operand of the score
product (`attention.attention`, the default) against the usual `q @ k.T`, one process taking
turns recording by recording (the first rotating), each recording transcribed alone with the
defaults (int8, so bf16 cross K/V where the CPU has bf16 instructions): windows, WER, seconds.

    python benchmarks/bf16_keys_first.py --model base --data data/long --limit 12 \\
        --output benchmarks/results/bf16_keys_first_base_cpu
"""

import math

import torch
import torch.nn.functional as F

import whisper_eas.model as model_module
from whisper_eas import load_model
from whisper_eas.research.bench import manifest_records, take_turns, turns_arguments, write_turns

keys_first = model_module.attention


def queries_first(q, k, v, *, mask=None, backend="sdpa"):
    """`attention.attention` before the change: q @ k.T whatever the dtype."""
    if backend == "sdpa":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    scores = (q @ k.transpose(-1, -2)).float() / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.softmax(dim=-1).to(v.dtype) @ v


def main():
    args = turns_arguments(__doc__, model="base").parse_args()
    torch.set_num_threads(args.threads)
    records = manifest_records(args.data, args.limit, args.pick)
    model = load_model(args.model, dtype="int8")
    variants = {"q @ k.T": queries_first, "k @ q.T": keys_first}
    setups = {
        name: lambda f=f: setattr(model_module, "attention", f) for name, f in variants.items()
    }
    runs = take_turns(model, args.data, records, setups)
    model_module.attention = keys_first
    write_turns(args, records, runs, "int8: bf16 cross-attention scores, keys first or queries "
                "first", "scores", "int8, defaults", dtype="int8")  # fmt: skip


if __name__ == "__main__":
    main()
