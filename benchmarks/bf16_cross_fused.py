"""int8's cross-attention over its bf16 K/V by PyTorch's fused kernel (`TextDecoder.
fused_bf16_cross`, the default on a CPU with AMX) against the eager backend's two bf16 batched
products (keys as the left operand, the default elsewhere), one process taking turns recording
by recording (the first rotating), each recording transcribed alone (int8, so bf16 cross K/V
where the CPU has bf16 instructions; `--batch-size 1`: strictly sequential): windows, WER,
seconds.

    python benchmarks/bf16_cross_fused.py --model tiny.en --batch-size 1 --data data/long \\
        --limit 12 --output benchmarks/results/bf16_cross_fused_tiny_b1_cpu
"""

import torch

from whisper_eas import load_model
from whisper_eas.research.bench import manifest_records, take_turns, turns_arguments, write_turns


def main():
    parser = turns_arguments(__doc__)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    records = manifest_records(args.data, args.limit, args.pick)
    model = load_model(args.model, dtype="int8")
    decoder = model.network.decoder
    if decoder.cross_dtype != torch.bfloat16:
        raise SystemExit("this CPU has no bf16 instructions: int8 keeps float32 cross K/V here")
    chosen = decoder.fused_bf16_cross
    setups = {
        "eager": lambda: setattr(decoder, "fused_bf16_cross", False),
        "fused": lambda: setattr(decoder, "fused_bf16_cross", True),
    }
    runs = take_turns(model, args.data, records, setups, batch_size=args.batch_size)
    decoder.fused_bf16_cross = chosen
    write_turns(args, records, runs, "int8: cross-attention over bf16 K/V, eager or fused",
                "cross-attention", f"int8, batch size {args.batch_size}", dtype="int8",
                batch_size=args.batch_size)  # fmt: skip


if __name__ == "__main__":
    main()
