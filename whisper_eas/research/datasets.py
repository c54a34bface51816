"""Speech datasets for evaluation: a JSONL manifest (`id`, `audio`, `text`) or a LibriSpeech
tree (`SPEAKER/CHAPTER/*.flac` + `*.trans.txt`). Missing audio, transcript lines or subset
ids are errors (or warnings with `skip_missing`), never silently dropped."""

import json
import sys
from dataclasses import dataclass
from pathlib import Path


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
    problems += [
        f"{audio}: no transcript line"
        for audio in sorted(root.rglob("*.flac"))
        if audio not in transcribed
    ]
    return utterances, problems


def subset_file(subset: str | Path, data: Path) -> Path:
    """A subset file as given, else the one of that name in the data folder
    (`--subset subset300.txt` beside a data set's manifest)."""
    subset = Path(subset)
    folder = data if data.is_dir() else data.parent
    if not subset.is_file() and not subset.is_absolute() and (folder / subset).is_file():
        return folder / subset
    if not subset.is_file():
        raise FileNotFoundError(f"subset file not found: {subset} (nor in {folder})")
    return subset


def read_dataset(
    path: str | Path,
    subset: str | Path | None = None,
    limit: int | None = None,
    skip_missing: bool = False,
) -> list[Utterance]:
    """A JSONL manifest (file, or folder holding manifest.jsonl) or a LibriSpeech tree.

    Missing audio, transcript lines and subset ids are errors, or with `skip_missing`
    warnings on stderr; never silently dropped."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"dataset not found: {path}")
    manifest = path if path.is_file() else path / "manifest.jsonl"
    utterances, problems = (
        _read_manifest(manifest) if manifest.is_file() else _read_librispeech(path)
    )
    if not utterances and not problems:
        raise ValueError(f"{path} is neither a JSONL manifest nor a LibriSpeech tree (*.trans.txt)")
    if subset is not None:
        wanted = [line.strip() for line in subset_file(subset, path).read_text().splitlines()]
        wanted = [i for i in wanted if i]
        by_id = {u.id: u for u in utterances}
        problems += [f"subset id {i} is not in {path}" for i in wanted if i not in by_id]
        utterances = [by_id[i] for i in wanted if i in by_id]
    if problems:
        report = "\n  ".join(problems[:20]) + (
            f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        )
        if not skip_missing:
            raise ValueError(f"dataset {path} has {len(problems)} problem(s):\n  {report}")
        print(
            f"whisper-eas: warning: skipping {len(problems)} dataset problem(s):\n  {report}",
            file=sys.stderr,
        )
    if limit is not None:
        utterances = utterances[:limit]
    if not utterances:
        raise ValueError(f"no utterances to evaluate in {path}")
    return utterances
