"""The speed of this checkout against an earlier commit, same files, same machine: each system
runs in its own process (a worker), the systems take turns round by round, medians reported.
What a change costs or saves end to end (mel, encoder, decoding, fallbacks; model load and one
warm-up excluded).

    python benchmarks/versus_commit.py --before 6159f7e --models tiny.en,base \\
        --output benchmarks/results/versus_6159f7e_cpu
"""

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

from whisper_eas.research.bench import cpu_flags, run_header, run_worker, write_results

HERE = Path(__file__).resolve().parents[1]
DEV = HERE.parent / "shared/data/librispeech-dev-clean"
WORKER = """
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
from whisper_eas import load_model, transcribe
name, dtype, batch, files = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:]
model = load_model(name, dtype=dtype)
transcribe(model, files[0])  # warm-up
began = time.perf_counter()
results = transcribe(model, files, batch_size=batch)
print(json.dumps({"seconds": time.perf_counter() - began, "texts": [r.text for r in results]}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="the earlier commit")
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--cases", default="float32:1,int8:1,float32:8,int8:8")
    parser.add_argument("--clips", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    ids = (DEV / "subset300.txt").read_text().split()[199 : 199 + args.clips]
    files = [str(DEV / "audio" / f"{i}.mp3") for i in ids]
    files.append(str(HERE / "data/long/audio/1272-141231.wav"))  # build_long_audio.py
    cases = [(m, *c.split(":")) for m in args.models.split(",") for c in args.cases.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        before = Path(folder) / "before"
        subprocess.run(["git", "worktree", "add", "-q", "--detach", str(before), args.before],
                       cwd=HERE, check=True)  # fmt: skip
        try:
            for name, dtype, batch in cases:
                times = {"before": [], "now": []}
                texts = {}
                for number in range(args.rounds):
                    order = ("before", "now") if number % 2 == 0 else ("now", "before")
                    for label in order:
                        tree = before if label == "before" else HERE
                        out = run_worker(tree, WORKER, args.threads, name, dtype, batch, *files)
                        times[label].append(out["seconds"])
                        texts[label] = out["texts"]
                median = {k: statistics.median(v) for k, v in times.items()}
                same = sum(a == b for a, b in zip(texts["before"], texts["now"]))
                rows.append({"model": name, "dtype": dtype, "batch": int(batch),
                             "seconds": times, "median": median,
                             "now_speed_over_before": median["before"] / median["now"],
                             "same_texts": same, "files": len(files)})  # fmt: skip
                print(rows[-1]["model"], dtype, batch, median, same, flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=HERE)
    result = run_header(
        args.threads, before=args.before, cpu_flags=cpu_flags(), files=files, rows=rows
    )
    lines = [
        f"# This checkout (`{result['commit']}`) against `{args.before}`", "",
        f"{result['date']}, {result['device']} (flags: {', '.join(result['cpu_flags'])}), "
        f"{args.threads} threads, torch {result['torch']}; {args.clips} dev-clean clips and a "
        f"3.8-minute recording, one process per system, {args.rounds} rounds taking turns.", "",
        "| model | dtype | batch | before s | now s | now speed / before | same texts |",
        "|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['dtype']} | {r['batch']} | {r['median']['before']:.2f} | "
            f"{r['median']['now']:.2f} | {r['now_speed_over_before']:.3f}× | "
            f"{r['same_texts']} / {r['files']} |"
        )
    write_results(args.output, result, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
