"""The `whisper-eas` command: transcribe files, convert checkpoints (and, from evaluate.py,
evaluate and search)."""

import argparse
import json
import sys
from pathlib import Path

from .attention import BACKENDS
from .sparsify import AGGREGATES, SCORERS, EASConfig


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="tiny.en", help="name (tiny.en, base, large-v3, ...), hub id, folder or .pt file")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--dtype", default="float32", help="float32, float16 or bfloat16")


def add_eas_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Early Attentive Sparsification (off unless --eas-layer is given)")
    group.add_argument("--eas-layer", type=int, help="drop tokens after this encoder block (1-based)")
    group.add_argument("--eas-sparsity", type=float, help="fraction of audio tokens to drop, in [0, 1)")
    group.add_argument("--eas-aggregate", default="mean", choices=AGGREGATES)
    group.add_argument("--eas-scorer", default="exact", choices=SCORERS)
    group.add_argument("--eas-cross-layer", action="store_true", help="aggregate scores of blocks 1..layer")
    parser.add_argument("--attention", default="sdpa", choices=BACKENDS, help="encoder attention backend")


def eas_from_arguments(args: argparse.Namespace) -> EASConfig | None:
    if args.eas_layer is None and args.eas_sparsity is None:
        return None
    if args.eas_layer is None or args.eas_sparsity is None:
        raise ValueError("EAS needs both --eas-layer and --eas-sparsity")
    return EASConfig(args.eas_layer, args.eas_sparsity, args.eas_aggregate, args.eas_scorer, args.eas_cross_layer)


def run_transcribe(args: argparse.Namespace) -> None:
    from .loading import load_model
    from .transcribe import transcribe

    eas = eas_from_arguments(args)
    for path in args.files:
        if not Path(path).is_file():
            raise FileNotFoundError(f"audio file not found: {path}")
    model = load_model(args.model, device=args.device, dtype=args.dtype)
    results = transcribe(
        model, list(args.files), eas=eas, language=args.language, task=args.task,
        max_new_tokens=args.max_new_tokens, attention=args.attention, batch_size=args.batch_size,
    )  # fmt: skip
    for path, result in zip(args.files, results):
        if args.output_format == "json":
            record = {"file": path, "text": result.text, "tokens": result.tokens, "language": result.language,
                      "windows": result.windows, "kept_tokens": result.kept_tokens}  # fmt: skip
            print(json.dumps(record, ensure_ascii=False))
        else:
            print(result.text if len(args.files) == 1 else f"{path}\t{result.text}")


def run_convert(args: argparse.Namespace) -> None:
    from .loading import convert

    destination = convert(args.source, args.destination, args.tokenizer)
    print(f"wrote a Hugging Face Whisper folder to {destination}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="whisper-eas", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    transcribe = commands.add_parser("transcribe", help="transcribe audio files")
    transcribe.add_argument("files", nargs="+", help="audio files (wav, flac, mp3, ogg, m4a, ...)")
    add_model_arguments(transcribe)
    transcribe.add_argument("--language", help="language code; default English for .en models, detected otherwise")
    transcribe.add_argument("--task", default="transcribe", choices=["transcribe", "translate"])
    transcribe.add_argument("--output-format", default="txt", choices=["txt", "json"])
    transcribe.add_argument("--batch-size", type=int, default=8, help="30 s windows per forward pass")
    transcribe.add_argument("--max-new-tokens", type=int, help="per window; default 224")
    add_eas_arguments(transcribe)
    transcribe.set_defaults(run=run_transcribe)

    convert = commands.add_parser("convert", help="write a checkpoint (CTranslate2, OpenAI .pt, HF, name) as a Hugging Face folder")
    convert.add_argument("source")
    convert.add_argument("destination")
    convert.add_argument("--tokenizer", help="folder with tokenizer.json or vocab.json (for .pt files)")
    convert.set_defaults(run=run_convert)

    from .evaluate import add_commands  # eval, search
    from .report import add_command as add_report_command

    add_commands(commands)
    add_report_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError, RuntimeError, ImportError) as error:
        print(f"whisper-eas: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
