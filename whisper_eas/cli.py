"""whisper-eas: transcribe audio with a small pure-PyTorch Whisper, with Early Attentive
Sparsification (EAS); convert checkpoints; evaluate, search and report (research harness).

examples:
  whisper-eas transcribe talk.mp3                          # tiny.en, text on stdout
  whisper-eas transcribe a.flac b.m4a --model base --eas --output-format srt --output-dir subs
  whisper-eas transcribe talk.mp3 --eas-layer 2 --eas-sparsity 0.5   # the paper's fixed budget
  whisper-eas eval --data ../shared/data/librispeech-dev-clean --limit 50 --model base --eas \\
      --output results.jsonl
  whisper-eas search --data DEV --subset subset300.txt --model base --eas-layers 1,2,3 \\
      --eas-sparsities 0.3,0.5 --output search.jsonl
  whisper-eas report search.jsonl
"""

import argparse
import gc
import io
import json
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from . import __version__
from .attention import BACKENDS
from .parts import LONGEST_PART_SECONDS, SPLIT_FROM_SECONDS
from .research.settings import AGGREGATES, BUDGETS, config_from_fields, fields_of
from .rules import PADDING_CHOICES, SCORERS
from .sparsify import EASConfig
from .timing import APPEND_PUNCTUATION, PREPEND_PUNCTUATION
from .tokenizer import TASKS
from .transcribe import SHORTEN_PAUSES_S, SKIP_SILENCE_S, token_list
from .vad import FILTER_OPTIONS, LONG_NAMES
from .windows import Safeguards, with_openai_options

OUTPUT_FORMATS = ("txt", "json", "srt", "vtt", "tsv")
# --vad-*: faster-whisper's vad_parameters (whisper-ctranslate2's flags)
VAD_FLAGS = (
    ("threshold", float),
    ("min_speech_duration_ms", int),
    ("max_speech_duration_s", float),
    ("min_silence_duration_ms", int),
    ("speech_pad_ms", int),
)


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default, unless it has none, is an on/off flag, or its help says it."""

    def _get_help_string(self, action):
        flag = isinstance(action.default, bool)
        if action.default is None or flag or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


class UsageError(ValueError):
    """Bad input from the user: one line on stderr, exit status 2 (no traceback)."""


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default="tiny.en",
        help="name (tiny.en, base, large-v3, ...), hub id, folder or .pt file",
    )
    parser.add_argument(
        "--model-dir",
        help="where weights are converted and hub downloads kept (openai-whisper's option; "
        "default: $WHISPER_EAS_CACHE or ~/.cache/whisper-eas, and the Hugging Face cache)",
    )
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument(
        "--dtype",
        help="float32, float16, bfloat16 or int8 (CPU) (default: float32, or int8 for an int8 "
        "CTranslate2 checkpoint)",
    )
    parser.add_argument(
        "--threads", type=int, help="torch intra-op threads (default, or 0: torch's choice)"
    )
    parser.add_argument(
        "--attention", default="sdpa", choices=BACKENDS, help="encoder attention backend"
    )


def add_eas_arguments(parser: argparse.ArgumentParser, mode: str = "transcribe") -> None:
    """`transcribe`: the recommended setting and the knobs a user needs; `eval` adds the
    research knobs (budgets, aggregates, scorers); `search` takes lists for the grid."""
    search, research = mode == "search", mode in ("eval", "search")
    group = parser.add_argument_group(
        "Early Attentive Sparsification: the grid to search (and the baseline)"
        if search
        else "Early Attentive Sparsification (off unless --eas, --eas-layer or --eas-rule)"
    )
    if not search:
        group.add_argument(
            "--eas",
            action="store_true",
            help="the setting the search chose for --model (EASConfig.recommended)",
        )
    if search:
        group.add_argument("--eas-layers", help="comma-separated 1-based layers (default: all)")
        group.add_argument("--eas-sparsities", help="comma-separated (default: 0.0,0.1,...,0.9)")
        group.add_argument(
            "--eas-aggregates", default="mean", help=f"comma-separated, of {','.join(AGGREGATES)}"
        )
        group.add_argument(
            "--eas-padding-tokens-list", help="speech budget: comma-separated padding counts"
        )
    else:
        group.add_argument(
            "--eas-layer", type=int, help="drop tokens after this encoder block (1-based)"
        )
        group.add_argument(
            "--eas-sparsity", type=float,
            help="the paper's rule (TopK): fraction of the 1500 tokens to drop",
        )  # fmt: skip
    group.add_argument(
        "--eas-padding-tokens",
        type=int,
        help="padding tokens kept after the audio (default: 300)",
    )
    group.add_argument(
        "--eas-vad",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the speech is what Silero VAD hears, so pauses, noise and music inside the audio "
        "are dropped too (VADBudget) (default: as --eas recommends)",
    )
    group.add_argument(
        "--eas-vad-margin-ms", type=int, help="--eas-vad: speech kept around what was heard"
    )
    group.add_argument(
        "--eas-vad-min-pause-ms", type=int, help="--eas-vad: shorter pauses are kept"
    )
    group.add_argument(
        "--eas-rule", metavar="MODULE:NAME",
        help="a keep rule of your own (README: 'A keep rule of your own')",
    )  # fmt: skip
    if not research:
        return
    group.add_argument(
        "--eas-budget",
        default=None,
        choices=BUDGETS,
        help="window: TopK; speech: SpeechBudget (default: window, or speech with --eas)",
    )
    group.add_argument(
        "--eas-speech-sparsity",
        type=float,
        default=0.0,
        help="speech budget: fraction of speech tokens dropped",
    )
    group.add_argument(
        "--eas-padding-choice",
        choices=PADDING_CHOICES,
        help="speech budget: the most-attended padding tokens, or the first after the speech "
        "(truncation) (default: attention, or first with --eas)",
    )
    if not search:
        group.add_argument(
            "--eas-aggregate", default="mean", choices=AGGREGATES, help="how heads' scores combine"
        )
    group.add_argument(
        "--eas-scorer", default="exact", choices=SCORERS, help="how tokens are scored"
    )
    group.add_argument(
        "--eas-cross-layer", action="store_true", help="aggregate scores of blocks 1..layer"
    )


def eas_fields(args: argparse.Namespace, **overrides) -> dict:
    """The flat EAS fields (research/settings.py) the flags give; research knobs that this
    command does not offer keep their defaults."""
    given = dict(
        aggregate=getattr(args, "eas_aggregate", None),
        scorer=getattr(args, "eas_scorer", None),
        cross_layer=getattr(args, "eas_cross_layer", None),
        budget=getattr(args, "eas_budget", None),
        speech_sparsity=getattr(args, "eas_speech_sparsity", None),
        padding_tokens=args.eas_padding_tokens,
        padding_choice=getattr(args, "eas_padding_choice", None),
        vad=args.eas_vad,
        vad_margin_ms=args.eas_vad_margin_ms,
        vad_min_pause_ms=args.eas_vad_min_pause_ms,
        rule=args.eas_rule,
    )
    given.update(overrides)
    return {name: value for name, value in given.items() if value is not None}


def eas_from_arguments(args: argparse.Namespace, model_name: str) -> EASConfig | None:
    """--eas alone gives the recommended setting; explicit flags override it. Without --eas,
    --eas-sparsity is the paper's rule, --eas-padding-tokens or --eas-vad the speech budget."""
    given = eas_fields(args)
    chosen = (args.eas_layer, args.eas_sparsity, args.eas_padding_tokens, args.eas_vad,
              args.eas_rule, getattr(args, "eas_budget", None))  # fmt: skip
    explicit = any(flag is not None for flag in chosen)
    if not args.eas and not explicit:
        return None
    base = fields_of(EASConfig.recommended(model_name)) if args.eas else {}
    layer = args.eas_layer if args.eas_layer is not None else base.get("layer")
    if layer is None:
        raise UsageError("EAS needs --eas-layer (or --eas for the recommended setting)")
    fields = {k: v for k, v in base.items() if k != "layer"}
    if args.eas_sparsity is not None:
        fields = dict(budget="window", sparsity=args.eas_sparsity)
    elif not fields and "rule" not in given and given.get("budget") != "speech":
        if "padding_tokens" not in given and not given.get("vad"):
            raise UsageError(
                "the window budget needs both --eas-layer and --eas-sparsity "
                "(or --eas-padding-tokens: truncation)"
            )
        fields = dict(budget="speech", padding_choice="first")  # truncation, or the VAD's
    fields.update(given)
    if fields.get("vad"):
        fields.setdefault("budget", "speech")
    try:
        return config_from_fields(layer, **fields)
    except ValueError as error:
        raise UsageError(str(error)) from None


def show_segments(emit: Callable, files: list[str], index: int, segments: list) -> None:
    """--verbose: each segment with its times as it is decoded (openai-whisper's lines)."""
    from .outputs import clock

    name = f"{files[index]}: " if len(files) > 1 else ""
    for segment in segments:
        emit(f"{name}[{clock(segment.start)} --> {clock(segment.end)}] {segment.text}")


def optional_float(text: str) -> float | None:
    return None if text.lower() == "none" else float(text)


def optional_int(text: str) -> int | None:
    return None if text.lower() == "none" else int(text)


def fallback_temperatures(args: argparse.Namespace) -> tuple[float, ...]:
    """openai-whisper's schedule: --temperature, then up by the increment to 1.0."""
    step = args.temperature_increment_on_fallback
    if not 0.0 <= args.temperature <= 1.0:
        raise UsageError(f"--temperature must be in [0, 1], got {args.temperature}")
    if step is None:
        return (args.temperature,)
    if step <= 0:
        raise UsageError(f"--temperature-increment-on-fallback must be > 0, got {step}")
    count = int((1.0 + 1e-6 - args.temperature) / step) + 1
    return tuple(round(args.temperature + i * step, 6) for i in range(count))


def set_threads(args: argparse.Namespace) -> None:
    import torch

    if args.threads:  # 0: torch's choice, as openai-whisper's
        if args.threads < 0:
            raise UsageError(f"--threads must be >= 0, got {args.threads}")
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        if cores and args.threads > cores:
            # Threads past the cores wait on each other at every product's barrier.
            warnings.warn(f"--threads {args.threads} is more than the {cores} CPUs this process "
                          "may use: it runs slower, not faster")  # fmt: skip
        torch.set_num_threads(args.threads)


# --- transcribe ---------------------------------------------------------------------------


def prompt_texts(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """(initial prompt, hotwords), with --carry-initial-prompt's (`transcribe.carried_prompt`)."""
    from .transcribe import carried_prompt

    try:
        return carried_prompt(args.initial_prompt, args.hotwords, args.carry_initial_prompt)
    except ValueError as error:
        raise UsageError(str(error)) from None


def decoding_options(args: argparse.Namespace):
    """`transcribe`'s DecodingOptions from its flags."""
    from .decoding import DecodingOptions

    return DecodingOptions(
        task=args.task,
        language=args.language,
        timestamps=not args.without_timestamps,
        max_new_tokens=args.max_new_tokens,
        hotwords=prompt_texts(args)[1],
        beam_size=args.beam_size,
        patience=args.patience,
        length_penalty=args.length_penalty,
        best_of=args.best_of,
        suppress_tokens=token_list(args.suppress_tokens),
        suppress_blank=args.suppress_blank,
        prefix=args.prefix,
        repetition_penalty=args.repetition_penalty,
        no_repeat_ngram_size=args.no_repeat_ngram_size,
        max_initial_timestamp=args.max_initial_timestamp,
    )


def vad_parameters(args: argparse.Namespace) -> dict | None:
    """The --vad-* settings given, in faster-whisper's names (`vad.filter_options`)."""
    given = {name: getattr(args, f"vad_{name}") for name, _ in VAD_FLAGS}
    given = {name: value for name, value in given.items() if value is not None}
    if given and not args.vad:
        raise UsageError("the --vad-* settings apply with --vad")
    return given or None


def model_dtype(args: argparse.Namespace, device: str) -> str | None:
    """--dtype, or (openai-whisper's --fp16) float16 on a CUDA device."""
    if not args.fp16 or args.dtype is not None:
        return args.dtype
    if str(device).startswith("cuda"):
        return "float16"
    print("whisper-eas: note: --fp16 applies on CUDA; float32 on the CPU", file=sys.stderr)
    return None


def run_transcribe(args: argparse.Namespace) -> int:
    from .audio import audio_seconds
    from .hub import load_model
    from .outputs import WRITERS, SubtitleLayout, record_of
    from .research.shard import join, leave
    from .transcribe import transcribe_files

    set_threads(args)
    layout = SubtitleLayout(
        args.max_line_width, args.max_line_count, args.max_words_per_line, args.highlight_words
    )
    if not layout.is_plain and not args.word_timestamps:
        raise UsageError(
            "--max-line-width, --max-line-count, --max-words-per-line and --highlight-words "
            "lay subtitles out by word: add --word-timestamps"
        )
    write = lambda name, result, path: (  # noqa: E731
        WRITERS[name](result, path, *([layout] if name in ("srt", "vtt") else []))
    )  # fmt: skip
    formats = list(OUTPUT_FORMATS) if args.output_format == "all" else [args.output_format]
    if args.output_dir is None and len(formats) > 1:
        args.output_dir = "."  # as openai-whisper: every format, into the current folder
    shard, device = join(args.device)  # under torchrun: this rank's files and device
    if shard.world > 1 and args.output_dir is None:
        raise UsageError("under torchrun, transcribe writes its results into --output-dir")
    if args.skip_existing and args.output_dir is None:
        raise UsageError("--skip-existing needs --output-dir")
    if args.files.count(STDIN) > 1:
        raise UsageError(f"'{STDIN}' (standard input) can be given once")
    names = output_names(args.files) if args.output_dir is not None else {}
    written = lambda i: [Path(args.output_dir) / f"{names[i]}.{f}" for f in formats]  # noqa: E731
    chosen = [
        i for i in shard.mine(list(range(len(args.files))))
        if not (args.skip_existing and all(path.is_file() for path in written(i)))
    ]  # fmt: skip
    files = [args.files[i] for i in chosen]
    # Bad values are refused before the model loads, as `transcribe` checks its keywords.
    options = decoding_options(args)
    safeguards = with_openai_options(
        None, fallback_temperatures(args) if args.fallback else (args.temperature,),
        args.compression_ratio_threshold, args.logprob_threshold, args.no_speech_threshold,
        args.prompt_reset_on_temperature,
    )  # fmt: skip
    inputs = [standard_input() if path == STDIN else path for path in files]
    model = load_model(args.model, device=device, dtype=model_dtype(args, device))
    eas = eas_from_arguments(args, args.model)

    # A file is read when its row starts (transcribe_files): one bad file gets its error line
    # and the others go on. The bar's length comes from the files' headers, not their audio.
    headers = lambda: sum(audio_seconds(path) or 0.0 for path in files)  # noqa: E731
    bar = progress_bar(headers, args.quiet or not shard.main)
    emit = print if bar is None else lambda text, end="\n": bar.write(text, end=end)
    failed = 0
    try:
        for index, result in transcribe_files(
            model,
            inputs,
            eas=eas,
            options=options,
            condition_on_previous_text=not args.no_condition,
            initial_prompt=prompt_texts(args)[0],
            safeguards=safeguards,
            word_timestamps=args.word_timestamps,
            prepend_punctuations=args.prepend_punctuations,
            append_punctuations=args.append_punctuations,
            backends=args.attention,
            batch_size=args.batch_size,
            # seconds of audio decoded; never past the total (the sum of float steps may be)
            progress=(lambda s: bar.update(max(0.0, min(s, bar.total - bar.n)))) if bar else None,
            vad_filter=args.vad,
            vad_parameters=vad_parameters(args),
            hallucination_silence_threshold=args.hallucination_silence_threshold,
            clip_timestamps=args.clip_timestamps,
            max_parts=args.max_parts,
            vad_check=args.vad_check,
            skip_silence=args.skip_silence or None,
            on_segments=(lambda i, segments: show_segments(emit, files, i, segments))
            if args.verbose
            else None,
        ):
            index = chosen[index]  # in args.files
            path = args.files[index]
            if result.error is not None:
                print(f"whisper-eas: error: {result.error}", file=sys.stderr)
                failed += 1
            elif args.output_dir is not None:
                folder = Path(args.output_dir)
                folder.mkdir(parents=True, exist_ok=True)
                for name in formats:
                    text = write(name, result, path)
                    (folder / f"{names[index]}.{name}").write_text(text, encoding="utf-8")
            elif formats[0] == "json":
                emit(json.dumps(record_of(result, path), ensure_ascii=False))
            elif formats[0] == "txt":
                emit(result.text if len(args.files) == 1 else f"{path}\t{result.text}")
            else:
                emit(write(formats[0], result, path), end="")
            sys.stdout.flush()
    finally:
        if bar is not None:
            bar.close()
    leave()
    return 2 if failed else 0  # every good file was still transcribed


STDIN = "-"  # a file argument that reads the audio from standard input


def standard_input() -> io.BytesIO:
    """Everything piped into the program, as an open binary file named "<stdin>": read whole
    first, since FFmpeg seeks in most containers and a pipe cannot."""
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError(
            f"'{STDIN}' reads audio from standard input, and nothing is piped into it "
            f"(e.g. ffmpeg -i talk.mkv -f wav - | whisper-eas transcribe {STDIN})"
        )
    audio = io.BytesIO(sys.stdin.buffer.read())
    if not audio.getbuffer().nbytes:
        raise UsageError("standard input is empty: no audio was piped into it")
    audio.name = "<stdin>"
    return audio


def output_names(paths: list[str]) -> dict[int, str]:
    """Each input's output stem in --output-dir: its own ("stdin" for standard input), or,
    when two inputs share one (a/talk.mp3, b/talk.wav), the later ones numbered (talk-2),
    with a note on stderr."""
    names, taken = {}, set()
    for index, path in enumerate(paths):
        stem = "stdin" if path == STDIN else Path(path).stem
        name, n = stem, 1
        while name in taken:
            n += 1
            name = f"{stem}-{n}"
        if name != stem:
            note = f"whisper-eas: {path} is written as {name}.* ({stem}.* is taken)"
            print(note, file=sys.stderr)
        taken.add(name)
        names[index] = name
    return names


def progress_bar(headers: Callable[[], float], quiet: bool):
    """A tqdm bar over audio seconds (`headers()`, read only where a bar may show) on stderr,
    only for a person watching long work."""
    if quiet or not sys.stderr.isatty():
        return None
    total_seconds = headers()
    if total_seconds < 60:
        return None
    from tqdm import tqdm

    return tqdm(
        total=round(total_seconds, 1),
        file=sys.stderr,
        desc="audio",
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s "
        "[{elapsed}<{remaining}]",
    )


def run_convert(args: argparse.Namespace) -> int:
    from .hub import convert

    destination = convert(args.source, args.destination, args.tokenizer)
    print(f"wrote a Hugging Face Whisper folder to {destination}")
    return 0


# --- research harness ---------------------------------------------------------------------


def parse_list(text: str, kind=float) -> list:
    try:
        return [kind(item) for item in text.split(",") if item.strip()]
    except ValueError as error:
        raise UsageError(f"cannot parse the list {text!r}: {error}") from error


def require_research_extra() -> None:
    """eval and search score with jiwer and Whisper's normaliser: check before any work."""
    try:
        import jiwer  # noqa: F401
        import whisper_normalizer  # noqa: F401
    except ImportError as error:
        raise UsageError(
            f"eval and search need the research extra ({error.name} is missing): "
            'pip install "whisper-eas[research]"'
        ) from error


def load_for_research(args):
    """This process's shard (under torchrun: its share and its own GPU), the model, the
    utterances and the results header (which names the device asked for, the same on every
    rank)."""
    import torch

    require_research_extra()
    from .hub import load_model
    from .research.datasets import read_dataset
    from .research.search import environment
    from .research.shard import join

    set_threads(args)
    shard, device = join(args.device)
    utterances = read_dataset(args.data, args.subset, args.limit, args.skip_missing)
    torch.manual_seed(0)
    model = load_model(args.model, device=device, dtype=args.dtype)
    from .quantize import is_int8

    dtype = "int8" if is_int8(model.network) else str(model.dtype).removeprefix("torch.")
    header = environment(args.model, args.data, utterances, args.device, dtype, args.attention)
    return shard, model, utterances, header


def run_eval(args: argparse.Namespace) -> int:
    from .research.search import config_key, run_search
    from .research.shard import leave

    eas = eas_from_arguments(args, args.model)
    shard, model, utterances, header = load_for_research(args)
    output = Path(args.output)
    records = run_search(model, utterances, [eas], output, header, args.attention, shard)
    record = next(r for r in records if r["key"] == config_key(eas))
    if shard.main:
        print(json.dumps({k: v for k, v in record.items() if k != "hypotheses"}, indent=2))
    leave()
    return 0


def run_search_command(args: argparse.Namespace) -> int:
    from .research.search import DEFAULT_SPARSITIES, run_search, select

    aggregates = parse_list(args.eas_aggregates, str)
    for aggregate in aggregates:
        if aggregate not in AGGREGATES:
            raise UsageError(
                f"unknown aggregate {aggregate!r} in --eas-aggregates; choose from {AGGREGATES}"
            )
    from .research.shard import leave

    shard, model, utterances, header = load_for_research(args)
    n_layers = model.dims.n_audio_layer
    layers = parse_list(args.eas_layers, int) if args.eas_layers else list(range(1, n_layers + 1))
    configs: list[EASConfig | None] = [None]
    if args.eas_rule is not None:  # a rule of one's own: where it drops is what is searched
        grid = [dict(rule=args.eas_rule)]
    elif args.eas_budget == "speech":
        paddings = (
            parse_list(args.eas_padding_tokens_list, int)
            if args.eas_padding_tokens_list
            else [args.eas_padding_tokens]
        )
        grid = [dict(aggregate=a, padding_tokens=p) for a in aggregates for p in paddings]
    else:
        sparsities = (
            parse_list(args.eas_sparsities) if args.eas_sparsities else list(DEFAULT_SPARSITIES)
        )
        grid = [dict(aggregate=a, sparsity=s) for a in aggregates for s in sparsities]
    try:
        configs += [
            config_from_fields(layer, **eas_fields(args, **point))
            for layer in layers
            for point in grid
        ]
    except ValueError as error:
        raise UsageError(str(error)) from None
    for eas in configs[1:]:
        eas.check_layers(n_layers)
    output = Path(args.output)
    records = run_search(model, utterances, configs, output, header, args.attention, shard)
    baseline = next(r for r in records if r["key"] == "baseline")
    for rank, record in enumerate(select(records, baseline) if shard.main else [], 1):
        print(
            f"#{rank} {record['key']}: WER {100 * record['wer']:.2f} %, RTF {record['rtf']:.4f} "
            f"({baseline['rtf'] / record['rtf']:.2f}x)"
        )
    leave()
    return 0


def run_report(args: argparse.Namespace) -> int:
    from .research.report import write_report

    folder = write_report(args.results, args.output, args.example, plots=not args.no_plots)
    print(f"wrote {folder / 'report.md'}")
    return 0


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", required=True, help="JSONL manifest (or its folder) or LibriSpeech tree"
    )
    parser.add_argument("--subset", help="file of utterance ids to use, one per line")
    parser.add_argument("--limit", type=int, help="use the first N utterances")
    parser.add_argument(
        "--skip-missing",
        action="store_true",
        help="warn about missing audio/transcripts instead of failing",
    )
    parser.add_argument("--output", required=True, help="results JSONL (appended; reruns resume)")


def build_parser() -> argparse.ArgumentParser:
    formatter = DefaultsHelpFormatter
    parser = argparse.ArgumentParser(
        prog="whisper-eas",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"whisper-eas {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of any error")
    commands = parser.add_subparsers(dest="command", required=True)
    # --debug after the command too; SUPPRESS keeps the top level's value when it is absent.
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks"
    )

    transcribe = commands.add_parser(
        "transcribe", help="transcribe audio files", formatter_class=formatter, parents=[debug]
    )
    transcribe.add_argument(
        "files", nargs="+", help="audio files (wav, flac, mp3, ogg, m4a, ...; '-': standard input)"
    )
    add_model_arguments(transcribe)
    transcribe.add_argument(
        "--language",
        help="language code or name (de, German); default English for .en models, detected "
        "otherwise",
    )
    transcribe.add_argument(
        "--task", default="transcribe", choices=TASKS, help="translate: into English"
    )
    transcribe.add_argument(  # -f and -o: openai-whisper's short names
        "-f", "--output-format", default="txt", choices=[*OUTPUT_FORMATS, "all"],
        help="what to write",
    )  # fmt: skip
    transcribe.add_argument("-o", "--output-dir", help="write one file per input and format here")
    transcribe.add_argument(
        "--skip-existing", action="store_true",
        help="with --output-dir: leave out inputs whose outputs are all there (resume a run)",
    )  # fmt: skip
    transcribe.add_argument(
        "--batch-size", type=int, default=8,
        help="rows decoded side by side: files, and the parts of a long one (1: each file whole, "
        "strictly sequential)",
    )  # fmt: skip
    transcribe.add_argument(
        "--max-parts", type=int,
        help=f"a recording of {SPLIT_FROM_SECONDS:.0f} s or more is cut at pauses into parts of "
        f"at most {LONGEST_PART_SECONDS} s (one window each, its pauses of {SHORTEN_PAUSES_S:g} s "
        "or more shortened) decoded side by side; at most this many (1: never)",
    )  # fmt: skip
    transcribe.add_argument("--max-new-tokens", type=int, help="per window; default 224")
    transcribe.add_argument(
        "--without-timestamps",
        action="store_true",
        help="no timestamp tokens: one segment per 30 s window, or per part of a recording "
        "cut into parts",
    )
    transcribe.add_argument(
        "--no-condition", action="store_true", help="do not prompt a window with the text before it"
    )
    transcribe.add_argument("--initial-prompt", help="text to prompt the first window with")
    transcribe.add_argument(
        "--carry-initial-prompt", action="store_true",
        help="the initial prompt in every window's prompt, before the previous text "
        "(openai-whisper's option, in faster-whisper's hotwords layout)",
    )  # fmt: skip
    transcribe.add_argument(
        "--hotwords", help="words to hint in every window's prompt (names, terms)"
    )
    transcribe.add_argument(
        "--prefix", help="text the first window must start with (then decoded on from it)"
    )
    transcribe.add_argument(
        "--suppress-tokens", default="-1",
        help="comma-separated token ids never emitted; -1: the checkpoint's non-speech symbols",
    )  # fmt: skip
    transcribe.add_argument(
        "--suppress-blank", action=argparse.BooleanOptionalAction, default=True,
        help="no blank or end-of-text as a window's first token",
    )  # fmt: skip
    transcribe.add_argument(
        "--no-fallback", dest="fallback", action="store_false", help="no temperature fallback"
    )
    search = transcribe.add_argument_group("beam search (default: greedy)")
    search.add_argument(
        "--beam-size", type=optional_int, help="beams for the decodes at temperature 0"
    )
    search.add_argument(
        "--patience", type=optional_float, help="keep beam_size * patience finished"
    )
    search.add_argument(
        "--length-penalty", type=optional_float, help="alpha of ((5 + n) / 6) ** alpha"
    )
    transcribe.add_argument(
        "--repetition-penalty", type=float, default=1.0,
        help="over 1: a token already in the window is less likely (faster-whisper's)",
    )  # fmt: skip
    transcribe.add_argument(
        "--no-repeat-ngram-size", type=int, default=0, metavar="N",
        help="no N-gram twice in a window (faster-whisper's; 0: off)",
    )  # fmt: skip
    transcribe.add_argument(
        "--max-initial-timestamp", type=optional_float, default=1.0, metavar="SECONDS",
        help="the latest a window's first timestamp may be ('none': anywhere)",
    )  # fmt: skip
    fallback = transcribe.add_argument_group("fallback and silence (openai-whisper's defaults)")
    defaults = Safeguards()
    fallback.add_argument("--temperature", type=float, default=0.0, help="of the first decode")
    fallback.add_argument(
        "--best-of", type=optional_int, default=5,
        help="candidates drawn at each temperature above 0; the likeliest is kept",
    )  # fmt: skip
    fallback.add_argument(
        "--temperature-increment-on-fallback", type=optional_float, default=0.2,
        help="temperature added at each retry, up to 1.0 ('none': no retry)",
    )  # fmt: skip
    fallback.add_argument(
        "--compression-ratio-threshold", type=optional_float,
        default=defaults.compression_ratio_threshold,
        help="retry a window whose text's gzip compression ratio is above ('none': never)",
    )  # fmt: skip
    fallback.add_argument(
        "--logprob-threshold", type=optional_float, default=defaults.logprob_threshold,
        help="retry a window whose average log-probability is below ('none': never)",
    )  # fmt: skip
    fallback.add_argument(
        "--prompt-reset-on-temperature", type=float,
        default=defaults.prompt_reset_on_temperature,
        help="a window decoded hotter than this is not the next one's prompt (faster-whisper's)",
    )  # fmt: skip
    fallback.add_argument(
        "--no-speech-threshold", type=optional_float, default=defaults.no_speech_threshold,
        help="silence: no-speech probability above this and log-probability below the threshold",
    )  # fmt: skip
    transcribe.add_argument(
        "--word-timestamps", action="store_true", help="word start/end times (json output)"
    )
    transcribe.add_argument(
        "--prepend-punctuations", default=PREPEND_PUNCTUATION,
        help="with --word-timestamps, these marks join the next word",
    )  # fmt: skip
    transcribe.add_argument(
        "--append-punctuations", default=APPEND_PUNCTUATION,
        help="with --word-timestamps, these marks join the previous word",
    )  # fmt: skip
    subtitles = transcribe.add_argument_group("subtitles (srt, vtt; need --word-timestamps)")
    subtitles.add_argument(
        "--max-line-width", type=optional_int, help="characters in a line at most"
    )
    subtitles.add_argument(
        "--max-line-count", type=optional_int, help="lines in a cue at most (with --max-line-width)"
    )
    subtitles.add_argument(
        "--max-words-per-line",
        type=optional_int,
        help="words in a cue at most (without --max-line-width)",
    )
    subtitles.add_argument(
        "--highlight-words", action="store_true", help="underline each word as it is spoken"
    )
    transcribe.add_argument(
        "--vad",
        action="store_true",
        help="decode only the speech Silero VAD finds (faster-whisper's vad_filter); times stay "
        "the file's",
    )
    vad = transcribe.add_argument_group(
        "--vad's settings (faster-whisper's vad_parameters; default: its vad_filter's)"
    )
    for flag, kind in VAD_FLAGS:
        default = getattr(FILTER_OPTIONS, LONG_NAMES.get(flag, flag))
        vad.add_argument(f"--vad-{flag.replace('_', '-')}", type=kind, help=f"default {default}")
    transcribe.add_argument(
        "--vad-check", action=argparse.BooleanOptionalAction, default=True,
        help="drop text heard only in pauses of 2 s or more (Silero VAD), move words out of them",
    )  # fmt: skip
    transcribe.add_argument(
        "--skip-silence", type=float, default=SKIP_SILENCE_S, metavar="SECONDS",
        help="with the VAD check, do not decode stretches this long without speech (silence, "
        "noise, music); times stay the file's; 0: decode them, and every pause of a file cut "
        "into parts in full",
    )  # fmt: skip
    transcribe.add_argument(
        "--hallucination-silence-threshold",
        type=float,
        metavar="SECONDS",
        help="drop text that looks invented between silences longer than this and seek past "
        "the silence (openai-whisper's option; turns word timing on)",
    )
    transcribe.add_argument(
        "--clip-timestamps",
        metavar="START,END,...",
        help="decode only these spans (seconds; an odd count runs the last to the end)",
    )
    transcribe.add_argument("--quiet", action="store_true", help="no progress bar")
    transcribe.add_argument(
        "--verbose", action="store_true", help="print each segment with its times as decoded"
    )
    transcribe.add_argument(
        "--fp16", action="store_true",
        help="float16 on a CUDA device where --dtype is not given (openai-whisper's option; on "
        "the CPU float32, as openai-whisper falls back)",
    )  # fmt: skip
    add_eas_arguments(transcribe)
    transcribe.set_defaults(run=run_transcribe)

    convert = commands.add_parser(
        "convert",
        help="write a checkpoint (CTranslate2, OpenAI .pt, HF, name) as a Hugging Face folder",
        parents=[debug],
    )
    convert.add_argument("source")
    convert.add_argument("destination")
    convert.add_argument(
        "--tokenizer", help="folder with tokenizer.json or vocab.json (for .pt files)"
    )
    convert.set_defaults(run=run_convert)

    for name, run, help_text in (
        ("eval", run_eval, "WER and RTF of one configuration"),
        ("search", run_search_command, "the EAS grid, resumable; prints Eq. 3's choice"),
    ):
        command = commands.add_parser(
            name, help=help_text, formatter_class=formatter, parents=[debug]
        )
        add_dataset_arguments(command)
        add_model_arguments(command)
        add_eas_arguments(command, name)
        command.set_defaults(run=run)

    report = commands.add_parser(
        "report", help="Markdown tables and PNG plots from a results file", parents=[debug]
    )
    report.add_argument("results", help="results JSONL written by `eval` or `search`")
    report.add_argument(
        "--output",
        help="folder for report.md and the PNGs (default: beside the results, same name)",
    )
    report.add_argument(
        "--example", help="audio file for the kept-tokens picture (default: the first utterance)"
    )
    report.add_argument(
        "--no-plots", action="store_true", help="Markdown only (no matplotlib needed)"
    )
    report.set_defaults(run=run_report)
    return parser


def dashed(argv: list[str]) -> list[str]:
    """openai-whisper's spelling of long options (`--output_format`) as ours (`--output-format`)."""
    spelled = []
    for token in argv:
        if token.startswith("--") and "_" in token.split("=", 1)[0]:
            name, *value = token.split("=", 1)
            token = "=".join([name.replace("_", "-"), *value])
        spelled.append(token)
    return spelled


# openai-whisper's options that take True or False, as ours: (flag for True, flag for False).
OPENAI_BOOLEANS = {
    "--word-timestamps": ("--word-timestamps", None),
    "--highlight-words": ("--highlight-words", None),
    "--verbose": ("--verbose", None),
    "--condition-on-previous-text": (None, "--no-condition"),
    "--carry-initial-prompt": ("--carry-initial-prompt", None),
    "--fp16": ("--fp16", None),
}
TRUTH = {"true": True, "false": False}


def with_booleans(argv: list[str]) -> list[str]:
    """openai-whisper's `--word_timestamps True` and `--condition_on_previous_text False` (after
    `dashed`) as our flags; a flag of ours given bare (`--word-timestamps`) stays as it is."""
    spelled, at = [], 0
    while at < len(argv):
        token, at = argv[at], at + 1
        name, equals, value = token.partition("=")
        if name not in OPENAI_BOOLEANS:
            spelled.append(token)
            continue
        if not equals:
            if at == len(argv) or argv[at].lower() not in TRUTH:  # bare: ours, or argparse's error
                spelled.append(token)
                continue
            value, at = argv[at], at + 1
        if value.lower() not in TRUTH:
            raise UsageError(f"{name} takes True or False, got {value!r}")
        flag = OPENAI_BOOLEANS[name][0 if TRUTH[value.lower()] else 1]
        spelled += [flag] if flag else []
    return spelled


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        spelled = with_booleans(dashed(sys.argv[1:] if argv is None else argv))
    except UsageError as error:
        parser.error(str(error))
    args = parser.parse_args(spelled)
    if getattr(args, "model_dir", None):  # openai-whisper's: where the weights are kept
        os.environ["WHISPER_EAS_CACHE"] = str(Path(args.model_dir).expanduser())
    if args.command == "search":  # the search has no single --eas-layer / --eas-sparsity
        args.eas_layer = args.eas_sparsity = None
        args.eas_aggregate, args.eas = "mean", False
    if argv is None:  # the program itself, not a caller in its own process (the tests)
        # What is imported by now (torch: some 170,000 objects) lives as long as the process:
        # kept out of the collector's scans, the interpreter's exit no longer walks it. A
        # process transcribing one short clip (tiny.en) took 1.66 s instead of 2.02
        # (benchmarks/results/one_clip_per_process_freeze_cpu.md).
        gc.freeze()
    code = run_command(args)
    if argv is None:
        # The interpreter's teardown (freeing the model, the modules and the thread pools) took
        # 0.1 s (tiny.en) to 0.2 s (base) of a process transcribing one short clip in 1.5-2 s.
        # Nothing is left to save by then: every file we write is closed by its `with` block.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except OSError:  # a reader gone (`| head`): what it did not read is not ours to keep
                pass
        os._exit(code)
    return code


def one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning (a damaged stretch of audio skipped, say) as the CLI's other notes: one line
    on stderr, without the source line Python shows."""
    print(f"whisper-eas: warning: {message}", file=sys.stderr)


def run_command(args: argparse.Namespace) -> int:
    try:
        with warnings.catch_warnings():  # puts Python's own display back afterwards
            warnings.showwarning = one_line_warning
            return args.run(args)
    except KeyboardInterrupt:
        print("whisper-eas: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError, ImportError) as error:  # bad input; a bug keeps its traceback
        if args.debug:
            raise
        print(f"whisper-eas: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
