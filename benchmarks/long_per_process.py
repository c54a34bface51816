"""Long recordings, one process each, as a user with one recording runs them (and as issue 21's
held-out check does): `whisper-eas transcribe talk.flac` against a script that runs
faster-whisper on it, start-up, model load and decoding included. Systems: ours (the default:
the file cut at pauses into parts decoded side by side), ours `--batch-size 1` (strictly
sequential), faster-whisper sequential (`beam_size=1`, temperature fallback as ours) and its
`BatchedInferencePipeline` (batch 8, its defaults otherwise), all in the same dtype. Each
recording in a fresh process per system, the systems taking turns recording by recording, the
order rotating, after one untimed run of each; reports the summed wall time, the ratios, the
peak RSS and the WER.

    python benchmarks/long_per_process.py --models tiny.en,base --data data/long --limit 12 \\
        --output benchmarks/results/long_per_process_cpu

`--before REV` adds our CLI at an earlier commit (its package unpacked from git), as "ours at
REV" and "ours --batch-size 1 at REV", and `--systems` picks which systems run, so that a
change shows what it saves a user:

    python benchmarks/long_per_process.py --models base --limit 6 --before f13b7e4 \\
        --systems "ours,ours at f13b7e4" --output benchmarks/results/...
"""

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import av
from one_clip_per_process import HERE, THREADS, run_once

from whisper_eas.hub import BUNDLED
from whisper_eas.research.bench import (
    ct2_folder,
    run_header,
    title,
    unpack_package_at,
    write_results,
)
from whisper_eas.research.metrics import word_error_rate

FASTER_WHISPER = """
import sys
from faster_whisper import BatchedInferencePipeline, WhisperModel
folder, compute_type, threads, mode, audio = sys.argv[1:]
model = WhisperModel(folder, device="cpu", compute_type=compute_type, cpu_threads=int(threads))
if mode == "batched":
    segments, _ = BatchedInferencePipeline(model).transcribe(
        audio, language="en", beam_size=1, best_of=1, batch_size=8)
else:
    segments, _ = model.transcribe(audio, language="en", beam_size=1,
                                   temperature=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
print(" ".join(s.text.strip() for s in segments))
"""
SYSTEMS = ("ours", "ours --batch-size 1", "faster-whisper", "faster-whisper batched")


def commands(model: str, dtype: str, before: tuple[str, Path] | None = None) -> dict:
    """For each system, a function of a recording's path -> (command, folder to run it in);
    `before`: (commit, the folder its package is unpacked in) adds "ours at COMMIT" and
    "ours --batch-size 1 at COMMIT"."""
    ours = [sys.executable, "-m", "whisper_eas", "transcribe", "--model", model, "--dtype",
            dtype, "--threads", str(THREADS), "--quiet"]  # fmt: skip
    folder = str(ct2_folder(model))  # resolved here: the worker must not pay for our import
    peer = [sys.executable, "-c", FASTER_WHISPER, folder, dtype, str(THREADS)]
    systems = {
        "ours": lambda audio: ([*ours, str(audio)], HERE),
        "ours --batch-size 1": lambda audio: ([*ours, "--batch-size", "1", str(audio)], HERE),
        "faster-whisper": lambda audio: ([*peer, "sequential", str(audio)], HERE),
        "faster-whisper batched": lambda audio: ([*peer, "batched", str(audio)], HERE),
    }
    if before is not None:
        commit, tree = before
        systems[f"ours at {commit}"] = lambda audio: ([*ours, str(audio)], tree)
        systems[f"ours --batch-size 1 at {commit}"] = lambda audio: (
            [*ours, "--batch-size", "1", str(audio)],
            tree,
        )
    return systems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="tiny.en")
    parser.add_argument("--dtype", default="float32", choices=("float32", "int8"))
    parser.add_argument("--data", default="data/long", help="a folder with manifest.jsonl")
    parser.add_argument("--limit", type=int, default=12)
    parser.add_argument("--before", help="also run our CLI at this earlier commit")
    parser.add_argument("--systems", help=f"comma-separated, of {', '.join(SYSTEMS)}, "
                        "'ours at BEFORE' and 'ours --batch-size 1 at BEFORE' "
                        "(default: all)")  # fmt: skip
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    unknown = [name for name in args.models.split(",") if name not in BUNDLED]
    if unknown:
        parser.error(f"--models: no bundled weights for {unknown}; choose from {list(BUNDLED)}")
    manifest = Path(args.data) / "manifest.jsonl"
    if not manifest.is_file():
        parser.error(f"--data: no {manifest} (benchmarks/build_long_audio.py writes data/long)")
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    if not 0 < args.limit <= len(records):
        parser.error(f"--limit must be 1 to {len(records)} (the recordings in {manifest})")
    records = records[: args.limit]
    audio = [(Path(args.data) / record["audio"]).resolve() for record in records]
    seconds = []
    for path in audio:
        with av.open(str(path)) as container:
            seconds.append(float(container.duration or 0) / 1e6)
    result = run_header(THREADS, dtype=args.dtype, recordings=[r["id"] for r in records],
                        seconds=seconds)  # fmt: skip
    result["models"] = {}
    scratch = tempfile.TemporaryDirectory()
    before = None
    if args.before:
        before = (args.before, unpack_package_at(args.before, Path(scratch.name)).parent)
    for name in args.models.split(","):
        systems = commands(name, args.dtype, before)
        if args.systems:
            chosen = args.systems.split(",")
            unknown = [system for system in chosen if system not in systems]
            if unknown:
                parser.error(f"--systems: unknown {unknown}; choose from {list(systems)}")
            systems = {system: systems[system] for system in chosen}
        runs = {system: {"seconds": [], "peak_rss": [], "texts": []} for system in systems}
        # One untimed run of each system first: the first process to start after a quiet
        # spell read torch's or CTranslate2's libraries from disk (a cold tiny.en process of
        # ours took 9.1 s where the next took 4.4-6.5, 2026-12-07), and whichever system the
        # rotation put first paid for it.
        for system in systems:
            run_once(*systems[system](audio[0]))
        for number, path in enumerate(audio):
            shift = number % len(systems)
            for system in list(systems)[shift:] + list(systems)[:shift]:
                wall, peak, text = run_once(*systems[system](path))
                runs[system]["seconds"].append(wall)
                runs[system]["peak_rss"].append(peak)
                runs[system]["texts"].append(text)
            print(f"{name} {number + 1}/{len(audio)}", file=sys.stderr, flush=True)
        for run in runs.values():
            run["total_seconds"] = sum(run["seconds"])
            run["wer"] = word_error_rate([r["text"] for r in records], run["texts"])
        result["models"][name] = runs
    scratch.cleanup()
    write(args, result)


def write(args, result: dict) -> None:
    minutes = sum(result["seconds"]) / 60
    lines = [title("Long recordings, one process each", result), "",
             f"{len(result['recordings'])} recordings of `{args.data}` ({minutes:.1f} min), "
             f"{args.dtype}, greedy. Each recording in a fresh process per system (start-up, "
             "model load, decoding), the systems taking turns recording by recording, the order "
             "rotating, after one untimed run of each. Seconds: the sum over the recordings. "
             "Peak RSS: the median over the "
             "recordings of each process's own peak.", "",
             "| model | system | seconds | RTF | × ours | × faster-whisper "
             "| × faster-whisper batched | peak RSS MB | WER % |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, runs in result["models"].items():
        seconds = {system: run["total_seconds"] for system, run in runs.items()}

        def times(system: str, total: float) -> str:  # "–" where that system did not run
            return f"{seconds[system] / total:.2f}×" if system in seconds else "–"

        for system, run in runs.items():
            total = run["total_seconds"]
            peak = statistics.median(run["peak_rss"]) / 2**20
            lines.append(f"| {name} | {system} | {total:.1f} | {total / (minutes * 60):.4f} | "
                         f"{times('ours', total)} | {times('faster-whisper', total)} | "
                         f"{times('faster-whisper batched', total)} | {peak:.0f} | "
                         f"{100 * run['wer']:.2f} |")  # fmt: skip
    write_results(args.output, result, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
