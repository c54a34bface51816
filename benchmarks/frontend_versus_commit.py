"""A long recording's front end, this checkout against an earlier commit: the VAD's pauses
(`vad.pauses_of`) and the file's log-mel (`windows.file_mel`), each stage in a fresh process
per tree and round (the trees taking turns), medians of the seconds and of the stage's peak
RSS over the process's before it (read every 2 ms). The recording: the first `data/long`
recordings joined until it reaches the length asked for (`memory_long.py` writes it), cut to
each length of `--minutes`.

    python benchmarks/frontend_versus_commit.py --before 69b7c61 --minutes 10,60 \\
        --output benchmarks/results/frontend_versus_69b7c61_cpu
"""

import argparse
import statistics
import tempfile
from pathlib import Path

from memory_long import build

from whisper_eas.research.bench import (
    run_header,
    run_worker,
    title,
    unpack_package_at,
    write_results,
)

HERE = Path(__file__).resolve().parents[1]
WORKER = """
import json, sys, threading, time, torch
torch.set_num_threads(int(sys.argv[1]))
from whisper_eas import load_audio
from whisper_eas.vad import pauses_of
from whisper_eas.windows import file_mel
stage, path, seconds = sys.argv[2], sys.argv[3], float(sys.argv[4])
audio = load_audio(path)[: int(seconds * 16000)].copy()
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
peak, done = [rss()], threading.Event()
def sample():  # the stage's own peak: RSS read every 2 ms while it runs
    while not done.is_set():
        peak.append(rss())
        time.sleep(0.002)
sampler = threading.Thread(target=sample)
start_rss, began = rss(), time.perf_counter()
sampler.start()
out = pauses_of(audio) if stage == "vad" else file_mel(audio, 80)
took = time.perf_counter() - began
done.set(), sampler.join()
print(json.dumps({"seconds": took, "added_bytes": max(peak) - start_rss,
                  "summary": len(out) if stage == "vad" else float(out.double().sum())}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="the earlier commit")
    parser.add_argument("--minutes", default="10,60")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    lengths = [float(m) for m in args.minutes.split(",")]
    path = HERE / "data" / f"joined_{max(lengths):g}min.wav"
    if not path.exists():
        build(HERE / "data/long", max(lengths), path)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        before = unpack_package_at(args.before, Path(folder)).parent
        for minutes in lengths:
            for stage in ("vad", "mel"):
                runs = {"before": [], "now": []}
                for number in range(args.rounds):
                    order = ("before", "now") if number % 2 == 0 else ("now", "before")
                    for label in order:
                        tree = before if label == "before" else HERE
                        out = run_worker(tree, WORKER, args.threads, stage, path, minutes * 60)
                        runs[label].append(out)
                median = {
                    label: {
                        key: statistics.median(r[key] for r in outs)
                        for key in ("seconds", "added_bytes")
                    }  # fmt: skip
                    for label, outs in runs.items()
                }
                same = runs["before"][0]["summary"] == runs["now"][0]["summary"]
                rows.append({"minutes": minutes, "stage": stage, "runs": runs,
                             "median": median, "same_output": same})  # fmt: skip
                print(minutes, stage, median, same, flush=True)
    result = run_header(args.threads, before=args.before, rounds=args.rounds, rows=rows)
    lines = [
        title(f"A long recording's front end against {args.before}", result), "",
        "Each stage in a fresh process per tree and round, the trees taking turns; medians of "
        f"{args.rounds} rounds. Memory: the stage's peak RSS (read every 2 ms) less the "
        "process's before it. Same output: the VAD's pauses (count) / the log-mel's sum, "
        "equal in both.", "",
        "| audio | stage | seconds before | seconds now | speed-up | MB added before | "
        "MB added now | same output |",
        "|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for row in rows:
        b, n = row["median"]["before"], row["median"]["now"]
        lines.append(
            f"| {row['minutes']:g} min | {row['stage']} | {b['seconds']:.2f} | "
            f"{n['seconds']:.2f} | {b['seconds'] / n['seconds']:.2f}× | "
            f"{b['added_bytes'] / 1e6:.0f} | {n['added_bytes'] / 1e6:.0f} | "
            f"{'yes' if row['same_output'] else 'no'} |"
        )
    write_results(args.output, result, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
