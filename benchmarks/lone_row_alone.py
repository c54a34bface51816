"""A lone row's oneDNN products alone, where the first product of each kind showed that alone it
gets the bits it gets beside other rows (`onednn.lone_row_product`), against every lone row as
two copies of itself (what every run did before 2026-12-06). One process taking turns
recording by recording (the first rotating), each recording transcribed alone: windows, WER,
seconds. The texts must be the same; `--batch-size 1` (every step a lone row) is where it
shows, the default (parts side by side) only in a batch's last rows.

    python benchmarks/lone_row_alone.py --model tiny.en --batch-size 1 --limit 6 \\
        --output benchmarks/results/lone_row_alone_tiny_b1_cpu
"""

import torch

from whisper_eas import load_model, onednn
from whisper_eas.research.bench import manifest_records, take_turns, turns_arguments, write_turns


class TwoCopies(dict):
    """Every kind of product known to disagree alone: each lone row goes as two copies."""

    def get(self, kind, default=None):
        return False

    def __contains__(self, kind):
        return True


def main():
    parser = turns_arguments(__doc__, limit=6)
    parser.add_argument("--batch-size", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    records = manifest_records(args.data, args.limit, args.pick)
    model = load_model(args.model)
    decisions = onednn.lone_row_alone

    def use(kinds):
        return lambda: setattr(onednn, "lone_row_alone", kinds)

    setups = {"two copies (before)": use(TwoCopies()), "alone where it agrees": use(decisions)}
    runs = take_turns(model, args.data, records, setups, batch_size=args.batch_size)
    onednn.lone_row_alone = decisions
    alone = sum(decisions.values())
    before, after = (run["texts"] for run in runs.values())
    same = sum(a == b for a, b in zip(before, after))
    write_turns(args, records, runs, "a lone row's oneDNN products alone", "lone rows",
                f"float32, batch size {args.batch_size}; alone on {alone} of {len(decisions)} "
                f"kinds of product (the others as two copies); the same text on {same} of "
                f"{len(records)}")  # fmt: skip


if __name__ == "__main__":
    main()
