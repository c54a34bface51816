"""A lone row's products in a run of one row by setting (`--batch-size 1`): MKL's `F.linear`
(`model.one_row_run`, the default there) against oneDNN on two copies of the row (what every
other run does, for batch invariance). One process taking turns recording by recording (the
first rotating), each recording transcribed alone at `batch_size=1`: windows, WER, seconds.

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
        "oneDNN, two copies": lambda: kernels(False),
        "MKL (one_row_run)": lambda: kernels(True),
    }
    runs = take_turns(model, args.data, records, setups, batch_size=1)
    decoding.one_row_run = chosen
    write_turns(args, records, runs, "a lone row's products at --batch-size 1", "kernels",
                f"{args.dtype}, batch size 1", dtype=args.dtype)  # fmt: skip


if __name__ == "__main__":
    main()
