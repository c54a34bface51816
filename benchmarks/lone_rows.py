"""A lone row's products in a run of one row by setting (`--batch-size 1`, `model.one_row_run`,
the default there): float32 on MKL's `F.linear` (on Intel's CPUs; elsewhere the batch's
kernel, so the float32 rows compare the same kernels), int8 as a bf16 row times the int8 weight
(`Int8Linear.lone_row`), against the kernels every other run gives a lone row for batch
invariance (oneDNN, alone or as two copies; FBGEMM with 8-bit activations). One process taking
turns recording by recording (the first rotating), each recording transcribed alone at
`batch_size=1`: windows, WER, seconds.

    python benchmarks/lone_rows.py --model tiny.en --limit 12 \\
        --output benchmarks/results/lone_rows_tiny_cpu
"""

import torch

import whisper_eas.decoding as decoding
import whisper_eas.model as model_module
from whisper_eas import load_model
from whisper_eas.research.bench import manifest_records, take_turns, turns_arguments, write_turns


def main():
    parser = turns_arguments(__doc__)
    parser.add_argument("--dtype", default="float32", choices=["float32", "int8"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    records = manifest_records(args.data, args.limit, args.pick)
    model = load_model(args.model, dtype=args.dtype)
    chosen = decoding.one_row_run

    def kernels(on_mkl: bool):
        decoding.one_row_run = lambda on=True: model_module.one_row_run(on and on_mkl)

    setups = {
        "a batch's (oneDNN; FBGEMM)": lambda: kernels(False),
        "one row's (MKL; int8 bf16 rows)": lambda: kernels(True),
    }
    runs = take_turns(model, args.data, records, setups, batch_size=1)
    decoding.one_row_run = chosen
    write_turns(args, records, runs, "a lone row's products at --batch-size 1", "kernels",
                f"{args.dtype}, batch size 1", dtype=args.dtype)  # fmt: skip


if __name__ == "__main__":
    main()
