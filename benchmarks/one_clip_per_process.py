"""Short clips, one process each: what a user who runs the CLI once per clip waits for, start-up
included (importing, loading the model, reading the file, decoding). Every system gets the
same clips in turn (the order rotating clip by clip), each clip in a fresh process; reports the
median wall time per clip, the peak RSS, and the WER (greedy everywhere: our default, and
faster-whisper with `beam_size=1`; its other defaults kept).

    python benchmarks/one_clip_per_process.py --models tiny.en,base --limit 20 \\
        --before 553577a --output benchmarks/results/one_clip_per_process_cpu

`--before REV` adds our CLI at an earlier commit (its package unpacked from git, run from its
own folder), so that a change to start-up shows what it saved.
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from whisper_eas.hub import BUNDLED
from whisper_eas.research.bench import (
    ct2_folder,
    run_header,
    title,
    unpack_package_at,
    write_results,
)
from whisper_eas.research.datasets import read_dataset
from whisper_eas.research.metrics import word_error_rate

HERE = Path(__file__).resolve().parents[1]
THREADS = 2
FASTER_WHISPER = """
import sys
from faster_whisper import WhisperModel
folder, compute_type, threads, clip = sys.argv[1:]
model = WhisperModel(folder, device="cpu", compute_type=compute_type, cpu_threads=int(threads))
segments, _ = model.transcribe(clip, beam_size=1)
print(" ".join(s.text.strip() for s in segments))
"""


def ours(folder: Path, model: str, dtype: str):
    def command(clip: Path) -> tuple[list[str], Path]:
        return [sys.executable, "-m", "whisper_eas", "transcribe", str(clip), "--model", model,
                "--dtype", dtype, "--threads", str(THREADS), "--quiet"], folder  # fmt: skip

    return command


def faster_whisper(model: str, dtype: str):
    folder = str(ct2_folder(model))  # resolved here: the worker must not pay for our import

    def command(clip: Path) -> tuple[list[str], Path]:
        return [sys.executable, "-c", FASTER_WHISPER, folder, dtype, str(THREADS), str(clip)], HERE

    return command


def run_once(command: list[str], folder: Path) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in bytes and stdout of one process."""
    env = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "PYTHONPATH": str(folder)}
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        began = time.perf_counter()
        process = subprocess.Popen(command, cwd=folder, env=env, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)  # the child's own peak RSS
        seconds = time.perf_counter() - began
        process.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        if process.returncode != 0:
            raise SystemExit(f"{' '.join(command[:5])}... failed:\n{stderr.read()[-2000:]}")
        return seconds, usage.ru_maxrss * 1024, stdout.read().strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="tiny.en")
    parser.add_argument("--dtype", default="float32", choices=("float32", "int8"))
    parser.add_argument("--data", default=str(HERE.parent / "shared/data/librispeech-dev-clean"))
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--before", help="also run our CLI at this earlier commit")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    unknown = [name for name in args.models.split(",") if name not in BUNDLED]
    if unknown:
        parser.error(f"--models: no bundled weights for {unknown}; choose from {list(BUNDLED)}")

    try:
        utterances = read_dataset(args.data)
    except (FileNotFoundError, ValueError) as error:
        parser.error(f"--data: {error}")
    if not 0 < args.limit <= len(utterances):
        parser.error(f"--limit must be 1 to {len(utterances)} (the clips in {args.data})")
    clips = random.Random(args.seed).sample(utterances, args.limit)
    header = run_header(THREADS, clips=[u.id for u in clips], dtype=args.dtype)
    with tempfile.TemporaryDirectory() as scratch:
        before = unpack_package_at(args.before, Path(scratch)).parent if args.before else None
        header["models"] = {}
        for name in args.models.split(","):
            systems = {"ours": ours(HERE, name, args.dtype)}
            if before:
                systems[f"ours at {args.before}"] = ours(before, name, args.dtype)
            systems["faster-whisper"] = faster_whisper(name, args.dtype)
            runs = {system: {"seconds": [], "peak_rss": [], "texts": []} for system in systems}
            for number, clip in enumerate(clips):
                order = (
                    list(systems)[number % len(systems) :] + list(systems)[: number % len(systems)]
                )
                for system in order:
                    seconds, peak, text = run_once(*systems[system](clip.audio))
                    runs[system]["seconds"].append(seconds)
                    runs[system]["peak_rss"].append(peak)
                    runs[system]["texts"].append(text)
                print(f"{name} {number + 1}/{len(clips)}", file=sys.stderr)
            for run in runs.values():
                run["median_seconds"] = statistics.median(run["seconds"])
                run["wer"] = word_error_rate([u.text for u in clips], run["texts"])
            header["models"][name] = runs
    write(args, header)


def write(args, result: dict) -> None:
    lines = [title("Short clips, one process each", result), "",
             f"{len(result['clips'])} dev-clean utterances drawn at random (seed {args.seed}), "
             f"{args.dtype}, greedy. Each clip in a fresh process per system (start-up, model "
             "load, decoding), the systems taking turns clip by clip, the order rotating. "
             "Peak RSS: the median over clips of each process's own peak.", "",
             "| model | system | median s a clip | × faster-whisper | peak RSS MB | WER % |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for name, runs in result["models"].items():
        reference = runs["faster-whisper"]["median_seconds"]
        for system, run in runs.items():
            peak = statistics.median(run["peak_rss"]) / 2**20
            lines.append(f"| {name} | {system} | {run['median_seconds']:.2f} | "
                         f"{reference / run['median_seconds']:.2f}× | {peak:.0f} | "
                         f"{100 * run['wer']:.2f} |")  # fmt: skip
    write_results(args.output, result, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
