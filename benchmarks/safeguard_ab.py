"""One field of `windows.Safeguards` at several values (e.g. `vad_unprompted_seconds`), one
process taking turns recording by recording (the first rotating), each recording transcribed
alone with the defaults and word timestamps: windows decoded, WER, seconds, fallbacks, and on
recordings with gaps the words placed inside one (gaps.py's rule).

    python benchmarks/safeguard_ab.py --field vad_unprompted_seconds --values inf,0.5 \\
        --model tiny.en --data data/long --limit 28 \\
        --output benchmarks/results/unprompted_no_speech_long_tiny_cpu
"""

import dataclasses
import sys
from pathlib import Path

import torch

from whisper_eas import load_model
from whisper_eas.research.bench import manifest_records, take_turns, turns_arguments, write_turns
from whisper_eas.windows import Safeguards

sys.path.insert(0, str(Path(__file__).parent))
from gaps import words_in_gaps  # noqa: E402


def main():
    parser = turns_arguments(__doc__)
    parser.add_argument("--field", required=True, help="a field of windows.Safeguards")
    parser.add_argument("--values", required=True, help="comma-separated; the first: baseline")
    args = parser.parse_args()
    fields = {f.name: f for f in dataclasses.fields(Safeguards)}
    if args.field not in fields or not isinstance(fields[args.field].default, (int, float)):
        numeric = [name for name, f in fields.items() if isinstance(f.default, (int, float))]
        parser.error(f"--field takes one of Safeguards' numbers: {', '.join(numeric)}")
    kind = type(fields[args.field].default)
    try:
        values = [kind(float(v)) if kind is float else kind(v) for v in args.values.split(",")]
    except ValueError:
        parser.error(f"--values must be numbers, got {args.values!r}")
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    records = manifest_records(args.data, args.limit, args.pick)
    in_gaps = dict.fromkeys(map(str, values), 0)

    def count_in_gaps(name, record, result):
        in_gaps[name] += words_in_gaps(result, record.get("gaps", []))

    setups = {str(v): lambda v=v: {"safeguards": Safeguards(**{args.field: v})} for v in values}
    runs = take_turns(model, args.data, records, setups, count_in_gaps, word_timestamps=True)
    for name, run in runs.items():
        run["in_gaps"] = in_gaps[name]
        run["fallbacks"]["words in gaps"] = in_gaps[name]
    same = sum(a == b for a, b in zip(*(run["texts"] for run in runs.values())))
    write_turns(
        args, records, runs, f"Safeguards.{args.field} at {args.values}", args.field,
        f"float32, defaults, word timestamps; the same text on {same} of {len(records)} "
        "(first two values); 'words in gaps' (in the fallbacks' cell): words whose middle lies "
        "in one of the manifest's gaps", field=args.field,
    )  # fmt: skip


if __name__ == "__main__":
    main()
