"""Batch invariance through the CLI, and what batching costs with EAS.

1. Identity: the same files transcribed by `whisper-eas transcribe --batch-size 1` and
   `--batch-size 8`, in four modes (float32, float32 --eas, int8, int8 --eas), must give the
   same tokens file by file. Files: dev-clean clips no test uses, two multi-minute recordings
   (`benchmarks/build_long_audio.py`, held-out chapters) and 20 s of silence.
2. Speed: `--eas` at batch 8 against batch 1 on the short clips (in one process, the two
   taking turns, three rounds, medians; the issue's case: batch 8 had redone windows and was
   slower than batch 1).
3. Word timing on the recordings: words outside their segment and overlapping segments.

    python benchmarks/build_long_audio.py --data ../shared/data/librispeech-dev-clean --output data
    python benchmarks/batch_invariance.py --models tiny.en,base \\
        --output benchmarks/results/batch_invariance_cpu
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch

from whisper_eas import EASConfig, load_model, transcribe
from whisper_eas.research.bench import cpu_flags, run_header, write_results

DEV = Path("../shared/data/librispeech-dev-clean")
MODES = {"float32": [], "float32 --eas": ["--eas"], "int8": ["--dtype", "int8"],
         "int8 --eas": ["--dtype", "int8", "--eas"]}  # fmt: skip


def inputs(n_clips: int, n_recordings: int, folder: Path) -> tuple[list[str], list[str]]:
    ids = (DEV / "subset300.txt").read_text().split()[200 : 200 + n_clips]
    clips = [str(DEV / "audio" / f"{i}.mp3") for i in ids]
    manifest = [json.loads(line) for line in Path("data/long/manifest.jsonl").open()]
    heldout = [r for r in manifest if r["group"] == "heldout"][:n_recordings]
    recordings = [str(Path("data/long") / r["audio"]) for r in heldout]
    silence = folder / "silence_20s.wav"
    soundfile.write(silence, np.zeros(320_000, dtype=np.float32), 16_000)
    return clips, recordings + [str(silence)]


def cli_tokens(files: list[str], model: str, mode: list[str], batch: int, threads: int) -> dict:
    command = [sys.executable, "-m", "whisper_eas.cli", "transcribe", *files, "--model", model,
               "--batch-size", str(batch), "--threads", str(threads), "--output-format", "json",
               "--word-timestamps", *mode]  # fmt: skip
    began = time.perf_counter()
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    records = [json.loads(line) for line in out.splitlines()]
    return {"seconds": time.perf_counter() - began, "records": {r["file"]: r for r in records}}


def word_timing(records: list[dict]) -> dict:
    outside = overlaps = words = 0
    for record in records:
        segments = record["segments"]
        for s in segments:
            words += len(s["words"])
            outside += sum(not s["start"] <= w["start"] <= w["end"] <= s["end"] for w in s["words"])
        overlaps += sum(a["end"] > b["start"] for a, b in zip(segments, segments[1:]))
    return {"words": words, "words_outside_their_segment": outside, "segment_overlaps": overlaps}


def eas_batch_speed(name: str, clips: list[str], rounds: int) -> dict:
    model = load_model(name)
    eas = EASConfig.recommended(name)
    transcribe(model, clips[:8], eas=eas, batch_size=8)  # warm-up
    seconds = {1: [], 8: []}
    windows = {}
    for number in range(rounds):
        for batch in (1, 8) if number % 2 == 0 else (8, 1):
            began = time.perf_counter()
            results = transcribe(model, clips, eas=eas, batch_size=batch)
            seconds[batch].append(time.perf_counter() - began)
            windows[batch] = sum(r.windows for r in results)
    median = {b: statistics.median(s) for b, s in seconds.items()}
    return {"seconds": seconds, "median": median, "windows": windows,
            "batch8_over_batch1_speed": median[1] / median[8]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--recordings", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="benchmarks/results/batch_invariance_cpu")
    parser.add_argument(
        "--parts", default="identity,speed,words", help="what to measure, comma-separated"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = run_header(args.threads, cpu_flags=cpu_flags(), models={})
    with tempfile.TemporaryDirectory() as folder:
        clips, long_files = inputs(args.clips, args.recordings, Path(folder))
        files = clips + long_files
        for name in args.models.split(","):
            entry = {"modes": {}}
            parts = args.parts.split(",")
            if "words" in parts and "identity" not in parts:
                run = cli_tokens(long_files[:-1], name, [], 1, args.threads)
                entry["word_timing"] = word_timing(list(run["records"].values()))
            for mode, flags in MODES.items() if "identity" in parts else ():
                runs = {b: cli_tokens(files, name, flags, b, args.threads) for b in (1, 8)}
                same = [
                    runs[1]["records"][f]["tokens"] == runs[8]["records"][f]["tokens"]
                    for f in files
                ]
                entry["modes"][mode] = {
                    "files": len(files), "identical_tokens": sum(same),
                    "cli_seconds": {b: round(r["seconds"], 1) for b, r in runs.items()},
                    "fallbacks": [runs[1]["records"][f]["fallbacks"] for f in files],
                }  # fmt: skip
                print(name, mode, f"identical {sum(same)}/{len(files)}", flush=True)
                if mode == "float32":
                    long_records = [runs[1]["records"][f] for f in long_files[:-1]]
                    entry["word_timing"] = word_timing(long_records)
            if "speed" in parts:
                entry["eas_batch_speed"] = eas_batch_speed(name, clips, args.rounds)
                print(name, "eas speed", entry["eas_batch_speed"]["median"], flush=True)
            result["models"][name] = entry
    write_results(args.output, result, markdown(result))


def markdown(result: dict) -> str:
    lines = [
        "# Batch invariance: `--batch-size 8` against `--batch-size 1`, through the CLI",
        "",
        f"{result['date']}, commit `{result['commit']}`, {result['device']} "
        f"(flags: {', '.join(result['cpu_flags']) or 'none'}), {result['threads']} threads, "
        f"torch {result['torch']}.",
        "",
        "| model | mode | files with identical tokens | CLI seconds, batch 1 / 8 |",
        "|---|---|---|---|",
    ]
    for name, entry in result["models"].items():
        for mode, m in entry.get("modes", {}).items():
            seconds = m["cli_seconds"]
            lines.append(
                f"| {name} | {mode} | {m['identical_tokens']} / {m['files']} | "
                f"{seconds[1]} / {seconds[8]} |"
            )
    lines += ["", "`--eas` on the short clips, batch 8 against batch 1 (medians of the rounds):",
              "", "| model | batch 1 s | batch 8 s | batch 8 speed / batch 1 | windows 1 / 8 |",
              "|---|---|---|---|---|"]  # fmt: skip
    for name, entry in result["models"].items():
        if "eas_batch_speed" not in entry:
            continue
        e = entry["eas_batch_speed"]
        lines.append(
            f"| {name} | {e['median'][1]:.2f} | {e['median'][8]:.2f} | "
            f"{e['batch8_over_batch1_speed']:.2f}× | {e['windows'][1]} / {e['windows'][8]} |"
        )
    lines += ["", "Word timestamps on the recordings (float32, batch 1):", "",
              "| model | words | outside their segment | overlapping segments |",
              "|---|---|---|---|"]  # fmt: skip
    for name, entry in result["models"].items():
        w = entry.get("word_timing")
        if w is None:
            continue
        lines.append(f"| {name} | {w['words']} | {w['words_outside_their_segment']} | "
                     f"{w['segment_overlaps']} |")  # fmt: skip
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
