"""The encoder's float32 attention on the CPU (`"sdpa"`): each head's two products on oneDNN a
chunk of queries at a time (`attention.attention_onednn`), against PyTorch's fused kernel, whose
products run on MKL (`attention.fused_on_cpu` picks it on Intel's CPUs). One process taking
turns recording by recording (the first rotating), each recording transcribed alone with the
defaults (`--batch-size 1` with `--batch-size 1`): windows, WER, seconds. A block alone is
timed too, the two kernels taking turns, on a window's worth of random heads.

    python benchmarks/encoder_attention.py --model tiny.en --limit 6 \\
        --output benchmarks/results/encoder_attention_tiny_cpu
"""

import statistics
import time

import torch
import torch.nn.functional as F

import whisper_eas.attention as attention
from whisper_eas import load_model
from whisper_eas.research.bench import manifest_records, take_turns, turns_arguments, write_turns


def block_ms(n_head: int, rounds: int = 25) -> dict:
    """Medians (ms) of one block's attention over a 30 s window, the kernels taking turns."""
    q, k, v = (torch.randn(1, n_head, 1500, 64) for _ in range(3))
    kernels = {
        "oneDNN chunks": lambda: attention.attention_onednn(q, k, v),
        "fused (MKL)": lambda: F.scaled_dot_product_attention(q, k, v),
    }
    seconds = {name: [] for name in kernels}
    with torch.inference_mode():
        for _ in range(rounds):
            for name, kernel in kernels.items():
                began = time.perf_counter()
                kernel()
                seconds[name].append(time.perf_counter() - began)
    return {name: round(1e3 * statistics.median(s), 2) for name, s in seconds.items()}


def main():
    parser = turns_arguments(__doc__, limit=6)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    records = manifest_records(args.data, args.limit, args.pick)
    model = load_model(args.model)
    chosen = attention.fused_on_cpu
    block = block_ms(model.dims.n_audio_head)
    print("one block's attention, ms:", block)
    setups = {
        "oneDNN chunks": lambda: setattr(attention, "fused_on_cpu", lambda: False),
        "fused kernel (MKL)": lambda: setattr(attention, "fused_on_cpu", lambda: True),
    }
    runs = take_turns(model, args.data, records, setups, batch_size=args.batch_size)
    attention.fused_on_cpu = chosen
    note = f"float32, batch size {args.batch_size}; one block's attention alone, ms: {block}"
    write_turns(args, records, runs, "the encoder's float32 attention", "kernel", note,
                block_ms=block, batch_size=args.batch_size, chosen_here=chosen())  # fmt: skip


if __name__ == "__main__":
    main()
