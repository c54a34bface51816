"""One module constant of the core at several values (e.g. `decoding.DROP_FINISHED`), one
process taking turns recording by recording (the first rotating), each recording transcribed
alone with the defaults: windows decoded, WER, seconds, speed-up over the first value.

    python benchmarks/constant_ab.py --constant decoding.DROP_FINISHED --values inf,0.25 \\
        --model tiny.en --data data/long --limit 12 \\
        --output benchmarks/results/drop_finished_tiny_cpu
    python benchmarks/medium_audio.py --data data/long --output data/medium --seconds 40,60,80
    python benchmarks/constant_ab.py --constant parts.SPLIT_FROM_SECONDS --values 90,45 \\
        --model tiny.en --data data/medium --limit 28 \\
        --output benchmarks/results/split_from_medium_tiny_cpu
    python benchmarks/constant_ab.py --constant decoding.HOLD_CLOSED_END --values false,true \\
        --model base --dtype int8 --data data/long --limit 12 --pick alternate \\
        --output benchmarks/results/hold_closed_end_base_int8_cpu
"""

import importlib
import inspect
import re

import torch

from whisper_eas import load_model
from whisper_eas.research.bench import manifest_records, take_turns, turns_arguments, write_turns


def parse_value(text: str, default):
    """A --values item as the constant's type (None: not one)."""
    if isinstance(default, bool):  # bool("False") is True
        return {"true": True, "false": False}.get(text.lower())
    try:
        return type(default)(float(text)) if isinstance(default, float) else type(default)(text)
    except ValueError:
        return None


def main():
    parser = turns_arguments(__doc__)
    parser.add_argument("--constant", required=True, help="MODULE.NAME in whisper_eas")
    parser.add_argument(
        "--values", required=True, help="comma-separated; the first is the baseline"
    )
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if "." not in args.constant:
        parser.error(f"--constant takes MODULE.NAME, got {args.constant!r}")
    module_name, name = args.constant.rsplit(".", 1)
    try:
        module = importlib.import_module(f"whisper_eas.{module_name}")
    except ModuleNotFoundError:
        parser.error(f"no module whisper_eas.{module_name}")
    if not hasattr(module, name):
        parser.error(f"whisper_eas.{module_name} has no constant {name!r}")
    if not re.search(rf"^{name}\s*[:=]", inspect.getsource(module), re.MULTILINE):
        # set where it is imported, the module that defines it would not see the new value
        parser.error(f"whisper_eas.{module_name} imports {name}: name the module defining it")
    default = getattr(module, name)
    values = [parse_value(v, default) for v in args.values.split(",")]
    if None in values:
        parser.error(f"{args.constant} is a {type(default).__name__}; got --values {args.values}")
    records = manifest_records(args.data, args.limit, args.pick)
    model = load_model(args.model, dtype=args.dtype)
    setups = {v: lambda v=v: setattr(module, name, v) for v in values}
    runs = take_turns(model, args.data, records, setups)
    setattr(module, name, default)
    write_turns(args, records, runs, f"`{args.constant}` at {args.values}", name,
                f"{args.dtype}, defaults but `{args.constant}` (default {default!r})",
                dtype=args.dtype, constant=args.constant)  # fmt: skip


if __name__ == "__main__":
    main()
