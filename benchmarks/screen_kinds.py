"""A greedy step's output-projection screen (`screening`) in two kinds, one process taking
turns recording by recording (the first rotating), each recording transcribed alone:
windows, WER, seconds. The tokens are float32's either way; only the time may differ.

    python benchmarks/screen_kinds.py --model tiny.en --dtype int8 --batch-size 1 \\
        --kinds bf16,int8x2 --limit 12 --output benchmarks/results/screen_kinds_tiny_int8_b1_cpu
"""

import torch

import whisper_eas.decoding as decoding
from whisper_eas import load_model
from whisper_eas.research.bench import manifest_records, take_turns, turns_arguments, write_turns


def main():
    parser = turns_arguments(__doc__)
    parser.add_argument("--dtype", default="float32", choices=["float32", "int8"])
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--kinds", default="bf16,int8x2")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    records = manifest_records(args.data, args.limit, args.pick)
    model = load_model(args.model, dtype=args.dtype)
    chosen = decoding.screen_kind

    def choose(kind):
        # "none": no screen, every step computes the full projection.
        decoding.screen_kind = lambda one_row=True: None if kind == "none" else kind

    setups = {kind: lambda kind=kind: choose(kind) for kind in args.kinds.split(",")}
    runs = take_turns(model, args.data, records, setups, batch_size=args.batch_size)
    decoding.screen_kind = chosen
    default_kind = chosen(one_row=args.batch_size == 1)
    write_turns(args, records, runs, "the output projection's screen, by kind", "screen",
                f"{args.dtype}, batch size {args.batch_size}", dtype=args.dtype,
                batch_size=args.batch_size, default_kind=default_kind)  # fmt: skip


if __name__ == "__main__":
    main()
