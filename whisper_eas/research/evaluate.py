"""The paper's experimental loop: datasets, WER and real-time factor, the resumable
(layer, sparsity) search, the Pareto front with Eq. 3's choice, and the `eval` and `search`
commands. Paper: arXiv 2506.15912, Sec. 3.3-3.4, Table 1-2, Fig. 2, 4, 5.

WER: reference and hypothesis are both normalised with Whisper's English text normaliser
(`whisper_normalizer.english.EnglishTextNormalizer`) before jiwer; corpus-level WER (all
errors over all reference words). RTF = inference time / audio duration, batch 1, after a
warm-up, split into mel frontend, conv stem, encoder (blocks + EAS) and decoder (Fig. 4).
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .audio import SAMPLE_RATE, load_audio
from .decoding import DecodingOptions
from .sparsify import AGGREGATES, EASConfig
from .transcribe import transcribe_windows, windows_of

NORMALIZER = "whisper_normalizer.english.EnglishTextNormalizer"
DEFAULT_SPARSITIES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


# --- datasets ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Utterance:
    id: str
    audio: Path
    text: str


def _read_manifest(path: Path) -> tuple[list[Utterance], list[str]]:
    utterances, problems = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        record = json.loads(line)
        if not all(key in record for key in ("id", "audio", "text")):
            problems.append(f"{path}:{number}: needs 'id', 'audio' and 'text'")
            continue
        audio = path.parent / record["audio"]
        if not audio.is_file():
            problems.append(f"{path}:{number}: audio file {audio} is missing")
            continue
        utterances.append(Utterance(record["id"], audio, record["text"]))
    return utterances, problems


def _read_librispeech(root: Path) -> tuple[list[Utterance], list[str]]:
    """SPEAKER/CHAPTER/SPEAKER-CHAPTER.trans.txt lines `ID TEXT`, audio `ID.flac` beside them."""
    utterances, problems, transcribed = [], [], set()
    for transcript in sorted(root.rglob("*.trans.txt")):
        for line in transcript.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            utterance_id, _, text = line.partition(" ")
            audio = transcript.parent / f"{utterance_id}.flac"
            transcribed.add(audio)
            if audio.is_file():
                utterances.append(Utterance(utterance_id, audio, text))
            else:
                problems.append(f"{transcript}: audio {audio.name} is missing")
    problems += [f"{audio}: no transcript line" for audio in sorted(root.rglob("*.flac")) if audio not in transcribed]
    return utterances, problems


def read_dataset(path: str | Path, subset: str | Path | None = None, limit: int | None = None, skip_missing: bool = False) -> list[Utterance]:
    """A JSONL manifest (file, or folder holding manifest.jsonl) or a LibriSpeech tree.

    Missing audio, transcript lines and subset ids are errors, or with `skip_missing`
    warnings on stderr; never silently dropped."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset not found: {path}")
    manifest = path if path.is_file() else path / "manifest.jsonl"
    utterances, problems = _read_manifest(manifest) if manifest.is_file() else _read_librispeech(path)
    if not utterances and not problems:
        raise ValueError(f"{path} is neither a JSONL manifest nor a LibriSpeech tree (*.trans.txt)")
    if subset is not None:
        wanted = [line.strip() for line in Path(subset).read_text().splitlines() if line.strip()]
        by_id = {u.id: u for u in utterances}
        problems += [f"subset id {i} is not in {path}" for i in wanted if i not in by_id]
        utterances = [by_id[i] for i in wanted if i in by_id]
    if problems:
        report = "\n  ".join(problems[:20]) + (f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else "")
        if not skip_missing:
            raise ValueError(f"dataset {path} has {len(problems)} problem(s):\n  {report}")
        print(f"whisper-eas: warning: skipping {len(problems)} dataset problem(s):\n  {report}", file=sys.stderr)
    if limit is not None:
        utterances = utterances[:limit]
    if not utterances:
        raise ValueError(f"no utterances to evaluate in {path}")
    return utterances


# --- metrics -----------------------------------------------------------------------------


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER after Whisper's English normaliser on both sides. Pairs whose normalised
    reference is empty have no words to score and are left out (jiwer cannot score them)."""
    import jiwer
    from whisper_normalizer.english import EnglishTextNormalizer

    normalize = EnglishTextNormalizer()
    pairs = [(normalize(r), normalize(h)) for r, h in zip(references, hypotheses, strict=True)]
    pairs = [(r, h) for r, h in pairs if r.strip()]
    if not pairs:
        raise ValueError("no reference words to score")
    return jiwer.wer([r for r, _ in pairs], [h for _, h in pairs])


class StageTimer:
    """Wall-clock per stage; on CUDA, synchronises so a stage's kernels count in that stage."""

    def __init__(self, device: torch.device):
        self.device = device
        self.totals = {"mel": 0.0, "stem": 0.0, "encoder": 0.0, "decoder": 0.0}
        self._last = 0.0

    def start(self) -> None:
        self._sync()
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        self._sync()
        now = time.perf_counter()
        self.totals[stage] += now - self._last
        self._last = now

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def run_utterance(model, waveform, eas: EASConfig | None, attention: str, timer: StageTimer):
    """One utterance, all its 30 s windows as one batch, timed by stage -> decoding results, k."""
    options = DecodingOptions(language="en" if model.tokenizer.multilingual else None)
    return transcribe_windows(model, windows_of(waveform), eas=eas, options=options, attention=attention, timer=timer)


def evaluate(model, utterances: list[Utterance], eas: EASConfig | None, attention: str = "sdpa", progress: bool = True) -> dict:
    """WER, RTF with its stage split, tokens per utterance and max-length hits for one configuration."""
    from tqdm import tqdm

    device = model.decoder.token_embedding.weight.device
    waveforms = [load_audio(u.audio) for u in utterances]  # decoding files is I/O, not inference: untimed
    run_utterance(model, waveforms[0], eas, attention, StageTimer(device))  # warm-up
    timer = StageTimer(device)
    hypotheses, n_tokens, hit_max = [], [], 0
    label = f"{eas.layer},{eas.sparsity}" if eas else "baseline"
    for waveform in tqdm(waveforms, desc=label, unit="utt", disable=not progress, file=sys.stderr):
        results, kept = run_utterance(model, waveform, eas, attention, timer)
        hypotheses.append(" ".join(r.text for r in results))
        n_tokens.append(sum(len(r.tokens) for r in results))
        hit_max += sum(r.hit_max_length for r in results)
    audio_seconds = sum(len(w) for w in waveforms) / SAMPLE_RATE
    total = sum(timer.totals.values())
    wer = word_error_rate([u.text for u in utterances], hypotheses)
    return {
        "eas": asdict(eas) if eas else None, "wer": wer, "accuracy": 1.0 - wer, "rtf": total / audio_seconds,
        "seconds": {**timer.totals, "total": total}, "audio_seconds": audio_seconds,
        "tokens_per_utterance": sum(n_tokens) / len(n_tokens), "hit_max_length": hit_max, "kept_tokens": kept,
        "hypotheses": dict(zip((u.id for u in utterances), hypotheses)),
    }  # fmt: skip


# --- search and selection ----------------------------------------------------------------


def config_key(eas: EASConfig | None) -> str:
    return "baseline" if eas is None else json.dumps(asdict(eas), sort_keys=True)


def environment(args: argparse.Namespace, utterances: list[Utterance]) -> dict:
    """What a results file was measured on. `identity` must match to resume into the file."""
    ids = hashlib.sha256("\n".join(u.id for u in utterances).encode()).hexdigest()[:16]
    identity = {"model": args.model, "data": str(Path(args.data).resolve()), "utterances": len(utterances),
                "ids_sha256": ids, "device": args.device, "dtype": args.dtype, "attention": args.attention,
                "normalizer": NORMALIZER}  # fmt: skip
    return {"type": "header", "identity": identity, "date": datetime.date.today().isoformat(), "commit": git_commit(),
            "device_name": device_name(args.device), "threads": torch.get_num_threads(), "torch": torch.__version__}  # fmt: skip


def git_commit() -> str:
    """The checkout's short commit hash, which results record; "unknown" outside a git checkout."""
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=True).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def write_results(prefix: str | Path, result: dict, markdown: str) -> None:
    """A benchmark's results as PREFIX.json (for programs) and PREFIX.md (for people)."""
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    prefix.with_suffix(".md").write_text(markdown)


def device_name(device: str) -> str:
    return torch.cuda.get_device_name(device) if device.startswith("cuda") else cpu_name()


def cpu_name() -> str:
    """The processor's model name (Linux /proc/cpuinfo), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def read_results(path: Path) -> tuple[dict | None, list[dict]]:
    if not path.is_file():
        return None, []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    header = next((line for line in lines if line.get("type") == "header"), None)
    return header, [line for line in lines if line.get("type") == "result"]


def append_result(path: Path, record: dict) -> None:
    """One line per finished configuration, flushed to disk at once: an interrupted run loses
    at most the configuration in progress."""
    with path.open("a", encoding="utf-8") as file:
        file.write(json.dumps(record) + "\n")
        file.flush()
        os.fsync(file.fileno())


def run_search(model, utterances, configs: list[EASConfig | None], output: Path, header: dict, attention: str) -> list[dict]:
    existing_header, finished = read_results(output)
    if existing_header is None:
        append_result(output, header)
    elif existing_header["identity"] != header["identity"]:
        changed = [k for k in header["identity"] if existing_header["identity"].get(k) != header["identity"][k]]
        raise ValueError(f"{output} holds results for different settings ({', '.join(changed)}); use another --output")
    done = {r["key"] for r in finished}
    for eas in configs:
        if config_key(eas) in done:
            continue
        record = {"type": "result", "key": config_key(eas), **evaluate(model, utterances, eas, attention)}
        append_result(output, record)
        finished.append(record)
        print(f"{record['key']}: WER {100 * record['wer']:.2f} %  RTF {record['rtf']:.4f}", file=sys.stderr)
    return finished


def pareto_front(points: list[dict]) -> list[dict]:
    """Points no other point beats on both WER and RTF (strictly, as in Eq. 3); ties stay."""
    return [p for p in points if not any(q["wer"] < p["wer"] and q["rtf"] < p["rtf"] for q in points)]


def select(points: list[dict], baseline: dict, top: int = 3, tolerance: float = 0.01) -> list[dict]:
    """Eq. 3: the fastest points of the Pareto front whose accuracy is at least
    (1 - tolerance) of the baseline's, fastest first (ties: lower WER, then key)."""
    floor = (1.0 - tolerance) * (1.0 - baseline["wer"])
    admissible = [p for p in pareto_front(points) if 1.0 - p["wer"] >= floor]
    return sorted(admissible, key=lambda p: (p["rtf"], p["wer"], p["key"]))[:top]


# --- commands ----------------------------------------------------------------------------


def parse_list(text: str, kind=float) -> list:
    try:
        return [kind(item) for item in text.split(",") if item.strip()]
    except ValueError as error:
        raise ValueError(f"cannot parse the list {text!r}: {error}") from error


def _load(args):
    from .loading import load_model

    utterances = read_dataset(args.data, args.subset, args.limit, args.skip_missing)
    torch.manual_seed(0)
    return load_model(args.model, device=args.device, dtype=args.dtype), utterances


def run_eval(args: argparse.Namespace) -> None:
    from .cli import eas_from_arguments

    eas = eas_from_arguments(args)
    model, utterances = _load(args)
    header = environment(args, utterances)
    records = run_search(model, utterances, [eas], Path(args.output), header, args.attention)
    record = next(r for r in records if r["key"] == config_key(eas))
    print(json.dumps({k: v for k, v in record.items() if k != "hypotheses"}, indent=2))


def run_search_command(args: argparse.Namespace) -> None:
    model, utterances = _load(args)
    n_layers = model.dims.n_audio_layer
    layers = parse_list(args.layers, int) if args.layers else list(range(1, n_layers + 1))
    sparsities = parse_list(args.sparsities) if args.sparsities else list(DEFAULT_SPARSITIES)
    aggregates = parse_list(args.aggregates, str) if args.aggregates else ["mean"]
    configs: list[EASConfig | None] = [None]
    configs += [
        EASConfig(layer, sparsity, aggregate, args.eas_scorer, args.cross_layer)
        for layer in layers for aggregate in aggregates for sparsity in sparsities
    ]  # fmt: skip
    for eas in configs[1:]:
        eas.check_layers(n_layers)
    header = environment(args, utterances)
    records = run_search(model, utterances, configs, Path(args.output), header, args.attention)
    baseline = next(r for r in records if r["key"] == "baseline")
    for rank, record in enumerate(select(records, baseline), 1):
        print(f"#{rank} {record['key']}: WER {100 * record['wer']:.2f} %, RTF {record['rtf']:.4f} "
              f"({baseline['rtf'] / record['rtf']:.2f}x)")  # fmt: skip


def add_commands(commands) -> None:
    from .cli import add_eas_arguments, add_model_arguments

    for name, run, help_text in (("eval", run_eval, "WER and RTF of one configuration"),
                                 ("search", run_search_command, "the (layer, sparsity) grid, resumable")):  # fmt: skip
        parser = commands.add_parser(name, help=help_text)
        parser.add_argument("--data", required=True, help="JSONL manifest (or its folder) or LibriSpeech tree")
        parser.add_argument("--subset", help="file of utterance ids to use, one per line")
        parser.add_argument("--limit", type=int, help="use the first N utterances")
        parser.add_argument("--skip-missing", action="store_true", help="warn about missing audio/transcripts instead of failing")
        parser.add_argument("--output", required=True, help="results JSONL (appended; reruns resume)")
        add_model_arguments(parser)
        if name == "eval":
            add_eas_arguments(parser)
        else:
            parser.add_argument("--layers", help="comma-separated 1-based layers (default: all)")
            parser.add_argument("--sparsities", help="comma-separated (default: 0.0,0.1,...,0.9)")
            parser.add_argument("--aggregates", help=f"comma-separated, of {','.join(AGGREGATES)} (default: mean)")
            parser.add_argument("--cross-layer", action="store_true", help="aggregate scores over blocks 1..layer (Table 2)")
            parser.add_argument("--eas-scorer", default="exact")
            parser.add_argument("--attention", default="sdpa", choices=("eager", "sdpa"))
        parser.set_defaults(run=run)
