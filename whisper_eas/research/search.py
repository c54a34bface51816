"""The paper's experimental loop: one configuration's WER and real-time factor, the resumable
(layer, sparsity) search, the Pareto front and Eq. 3's choice. Paper: arXiv 2506.15912,
Sec. 3.3-3.4, Table 1-2, Fig. 2, 4, 5.

Each utterance is transcribed by the core's own `transcribe` (long-form for clips over 30 s,
with its fallbacks), alone (batch 1), after a warm-up. RTF = inference time / audio
duration, split into encoder, decoder and the rest by `metrics.StageTimer`.
"""

import datetime
import hashlib
import json
import os
import sys
from collections import Counter
from pathlib import Path

import torch

from ..audio import SAMPLE_RATE, load_audio
from ..sparsify import EASConfig
from ..transcribe import transcribe
from .bench import device_name, git_commit
from .datasets import Utterance
from .metrics import NORMALIZER, StageTimer, word_error_rate
from .settings import fields_of
from .shard import Shard

DEFAULT_SPARSITIES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
CHUNK = 16  # utterances a sharded rank evaluates between two appends to its part


def evaluate(
    model,
    utterances: list[Utterance],
    eas: EASConfig | None,
    backends="sdpa",
    progress: bool = True,
    warm_up: bool = True,
) -> dict:
    """WER, RTF with its stage split, tokens per utterance, fallbacks and max-length hits for
    one configuration (after one untimed warm-up transcription unless `warm_up=False`)."""
    from tqdm import tqdm

    if not utterances:  # a rank of a sharded run with more ranks than utterances
        return empty_record(eas)
    waveforms = [load_audio(u.audio) for u in utterances]  # decoding files is I/O: untimed
    language = "en" if model.tokenizer.multilingual else None  # the datasets are English
    if warm_up:
        transcribe(model, waveforms[0], eas=eas, language=language, backends=backends)
    hypotheses, n_tokens, fallbacks, kept = [], [], Counter(), []
    label = config_label(eas)
    with StageTimer(model.network) as timer:
        for waveform in tqdm(
            waveforms,
            desc=label,
            unit="utt",
            file=sys.stderr,
            disable=not progress or not sys.stderr.isatty(),  # no bars in log files
        ):
            with timer.run():
                result = transcribe(model, waveform, eas=eas, language=language, backends=backends)
            hypotheses.append(result.text)
            n_tokens.append(len(result.tokens))
            fallbacks.update(result.fallbacks)
            kept += result.kept_tokens
    audio_seconds = sum(len(w) for w in waveforms) / SAMPLE_RATE
    wer = word_error_rate([u.text for u in utterances], hypotheses)
    return {
        "eas": fields_of(eas) if eas else None,
        "wer": wer,
        "accuracy": 1.0 - wer,
        "rtf": timer.totals["total"] / audio_seconds,
        "seconds": dict(timer.totals),
        "audio_seconds": audio_seconds,
        "tokens_per_utterance": sum(n_tokens) / len(n_tokens),
        "hit_max_length": fallbacks.get("hit_max_length", 0),
        "fallbacks": dict(fallbacks),
        "kept_tokens": sum(kept) / len(kept),
        "windows": len(kept),
        "hypotheses": dict(zip((u.id for u in utterances), hypotheses)),
    }


def empty_record(eas: EASConfig | None) -> dict:
    return {"eas": fields_of(eas) if eas else None, "seconds": {}, "audio_seconds": 0.0,
            "tokens_per_utterance": 0.0, "fallbacks": {}, "kept_tokens": 0.0, "windows": 0,
            "hypotheses": {}}  # fmt: skip


def merge_parts(parts: list[dict], utterances: list[Utterance]) -> dict:
    """The record one process writes, from the records of the ranks' shares: hypotheses in
    the utterances' order, WER over all of them, times, tokens and fallbacks summed."""
    found = {key: text for part in parts for key, text in part["hypotheses"].items()}
    hypotheses = {u.id: found[u.id] for u in utterances}
    wer = word_error_rate([u.text for u in utterances], list(hypotheses.values()))
    seconds = Counter()
    fallbacks = Counter()
    for part in parts:
        seconds.update(part["seconds"])
        fallbacks.update(part["fallbacks"])
    audio_seconds = sum(part["audio_seconds"] for part in parts)
    tokens = sum(round(p["tokens_per_utterance"] * len(p["hypotheses"])) for p in parts)
    windows = sum(part["windows"] for part in parts)
    kept = sum(round(part["kept_tokens"] * part["windows"]) for part in parts)
    return {
        "eas": parts[0]["eas"],
        "wer": wer,
        "accuracy": 1.0 - wer,
        "rtf": seconds["total"] / audio_seconds,  # process seconds per audio second
        "seconds": dict(seconds),
        "audio_seconds": audio_seconds,
        "tokens_per_utterance": tokens / len(utterances),
        "hit_max_length": fallbacks.get("hit_max_length", 0),
        "fallbacks": dict(fallbacks),
        "kept_tokens": kept / windows,
        "windows": windows,
        "hypotheses": hypotheses,
    }


def evaluate_shard(
    model, utterances: list[Utterance], eas: EASConfig | None, attention: str, output: Path,
    shard: Shard,
) -> dict:  # fmt: skip
    """One configuration over all ranks: each evaluates its share `CHUNK` utterances at a time
    and appends each chunk's record to its part (`<output>.parts/`, one JSONL per rank); then
    every rank reads all parts and merges them. A resumed run (same number of ranks) skips the
    utterances its part already holds: a kill loses at most the chunk in progress."""
    folder = output.with_name(output.name + ".parts")
    digest = hashlib.sha256(config_key(eas).encode()).hexdigest()[:16]
    part = folder / f"{digest}.{shard.rank}-of-{shard.world}.jsonl"
    finished = read_part(part)
    if part.is_file():  # rewritten whole, without a torn last line, before appending
        written = part.with_suffix(".tmp")
        written.write_text("".join(json.dumps(record) + "\n" for record in finished))
        written.replace(part)
    done = {key for record in finished for key in record["hypotheses"]}
    todo = [u for u in shard.mine(utterances) if u.id not in done]
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start : start + CHUNK]
        append_result(part, evaluate(model, chunk, eas, attention, warm_up=start == 0))
    shard.barrier()
    parts = [
        record
        for rank in range(shard.world)
        for record in read_part(folder / f"{digest}.{rank}-of-{shard.world}.jsonl")
    ]
    return merge_parts(parts, utterances)


def read_part(path: Path) -> list[dict]:
    """A rank's chunk records; a last line torn by a kill is dropped (its chunk is redone)."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return records


def config_label(eas: EASConfig | None) -> str:
    if eas is None:
        return "baseline"
    fields = fields_of(eas)
    if "rule" in fields:
        return f"{eas.layer},{fields['rule']}"
    if fields["budget"] == "speech":
        vad = (
            f",vad {fields['vad_margin_ms']}/{fields['vad_min_pause_ms']}"
            if "vad" in fields
            else ""
        )
        return f"{eas.layer},speech+{fields['padding_tokens']}{vad}"
    return f"{eas.layer},{fields['sparsity']}"


def config_key(eas: EASConfig | None) -> str:
    """A setting's identity in a results file: its flat fields (settings.py), as the files
    written before the rules became classes name it, so those still resume."""
    return "baseline" if eas is None else json.dumps(fields_of(eas), sort_keys=True)


def environment(
    model_name: str, data: str, utterances: list[Utterance], device: str, dtype: str, attention: str
) -> dict:
    """What a results file was measured on. `identity` must match to resume into the file."""
    ids = hashlib.sha256("\n".join(u.id for u in utterances).encode()).hexdigest()[:16]
    identity = {
        "model": model_name,
        "data": str(Path(data).resolve()),
        "utterances": len(utterances),
        "ids_sha256": ids,
        "device": device,
        "dtype": dtype,
        "attention": attention,
        "normalizer": NORMALIZER,
        "decoding": "long-form, timestamps, fallback",
    }
    return {
        "type": "header",
        "identity": identity,
        "date": datetime.date.today().isoformat(),
        "commit": git_commit(),
        "device_name": device_name(device),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def read_results(path: Path) -> tuple[dict | None, list[dict]]:
    if not path.is_file():
        return None, []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    header = next((line for line in lines if line.get("type") == "header"), None)
    return header, [line for line in lines if line.get("type") == "result"]


def append_result(path: Path, record: dict) -> None:
    """One line per finished configuration, flushed to disk at once: an interrupted run loses
    at most the configuration in progress. The results' folder is made when missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as file:
        file.write(json.dumps(record) + "\n")
        file.flush()
        os.fsync(file.fileno())


def run_search(
    model,
    utterances,
    configs: list[EASConfig | None],
    output: Path,
    header: dict,
    attention: str,
    shard: Shard = Shard(),
) -> list[dict]:
    """Each configuration's record, evaluated unless `output` already holds it, appended to
    `output` as it finishes. Sharded (torchrun), the utterances are split over the ranks and
    rank 0 writes the merged record (`evaluate_shard`)."""
    existing_header, finished = read_results(output)
    shard.barrier()  # every rank has read the file before rank 0 writes to it
    if existing_header is None:
        if shard.main:
            append_result(output, header)
    elif existing_header["identity"] != header["identity"]:
        changed = [
            k
            for k in header["identity"]
            if existing_header["identity"].get(k) != header["identity"][k]
        ]
        raise ValueError(
            f"{output} holds results for different settings ({', '.join(changed)}); "
            "use another --output"
        )
    done = {r["key"] for r in finished}
    for eas in configs:
        if config_key(eas) in done:
            continue
        evaluated = (
            evaluate(model, utterances, eas, attention)
            if shard.world == 1
            else evaluate_shard(model, utterances, eas, attention, output, shard)
        )
        record = {"type": "result", "key": config_key(eas), **evaluated}
        finished.append(record)
        if shard.main:
            append_result(output, record)
            print(
                f"{record['key']}: WER {100 * record['wer']:.2f} %  RTF {record['rtf']:.4f}",
                file=sys.stderr,
            )
    return finished


def pareto_front(points: list[dict]) -> list[dict]:
    """Points no other point beats on both WER and RTF (strictly, as in Eq. 3); ties stay."""
    return [
        p for p in points if not any(q["wer"] < p["wer"] and q["rtf"] < p["rtf"] for q in points)
    ]


def select(points: list[dict], baseline: dict, top: int = 3, tolerance: float = 0.01) -> list[dict]:
    """Eq. 3: the fastest points of the Pareto front whose accuracy is at least
    (1 - tolerance) of the baseline's, fastest first (ties: lower WER, then key)."""
    floor = (1.0 - tolerance) * (1.0 - baseline["wer"])
    admissible = [p for p in pareto_front(points) if 1.0 - p["wer"] >= floor]
    return sorted(admissible, key=lambda p: (p["rtf"], p["wer"], p["key"]))[:top]
