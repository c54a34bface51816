"""Long recordings, this checkout against an earlier commit: each in its own process (a worker
that loads the model and warms up once), taking turns recording by recording, the first
rotating; each recording transcribed alone, as a user with one recording runs it. Reports the
total seconds of each, their ratio and whether every text is the same. What a change costs or
saves end to end on long-form runs (`versus_commit.py` does the same for short clips).

    python benchmarks/longform_versus_commit.py --before 00e26cc --models base \\
        --data data/gaps --limit 8 --word-timestamps --output benchmarks/results/words_kv_cpu
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from whisper_eas.research.bench import (
    manifest_records,
    run_header,
    title,
    unpack_package_at,
    write_results,
)

HERE = Path(__file__).resolve().parents[1]
WORKER = """
import json, sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
from whisper_eas import load_audio, load_model, transcribe
name, dtype, words, batch = sys.argv[2], sys.argv[3], sys.argv[4] == "words", int(sys.argv[5])
files = sys.argv[6:]
model = load_model(name, dtype=dtype)
transcribe(model, load_audio(files[0])[: 16000 * 20], word_timestamps=words,
           batch_size=batch)  # warm-up
print("@ready", flush=True)
for line in sys.stdin:
    wave = load_audio(files[int(line)])
    began = time.perf_counter()
    result = transcribe(model, wave, word_timestamps=words, batch_size=batch)
    print("@" + json.dumps({"seconds": time.perf_counter() - began, "text": result.text}),
          flush=True)
"""


class Tree:
    """One worker: the package found at `tree` (first on its path), one model."""

    def __init__(self, tree: Path, args, name: str, files: list[str]):
        words = "words" if args.word_timestamps else "plain"
        command = [sys.executable, "-c", WORKER, str(args.threads), name, args.dtype, words,
                   str(args.batch_size), *files]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=tree, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.receive()

    def receive(self) -> str:
        for line in self.process.stdout:
            if line.startswith("@"):
                return line[1:]
        raise RuntimeError(f"worker exited with status {self.process.wait()}")

    def transcribe(self, index: int) -> dict:
        self.process.stdin.write(f"{index}\n")
        self.process.stdin.flush()
        return json.loads(self.receive())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="the earlier commit")
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--dtype", default="float32", choices=("float32", "int8"))
    parser.add_argument("--data", default="data/long", help="folder with manifest.jsonl")
    parser.add_argument("--limit", type=int, default=8, help="recordings (tune, heldout alternate)")
    parser.add_argument("--word-timestamps", action="store_true")
    parser.add_argument("--batch-size", type=int, default=8, help="1: each recording whole")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, got {args.batch_size}")
    chosen = manifest_records(args.data, args.limit, "alternate")
    files = [str((Path(args.data) / r["audio"]).resolve()) for r in chosen]
    result = {
        **run_header(args.threads), "before": args.before, "dtype": args.dtype,
        "word_timestamps": args.word_timestamps, "batch_size": args.batch_size,
        "recordings": [r["id"] for r in chosen],
        "audio_seconds": sum(r["duration_s"] for r in chosen), "models": {},
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        before = unpack_package_at(args.before, Path(folder)).parent
        for name in args.models.split(","):
            trees = {
                "before": Tree(before, args, name, files),
                "now": Tree(HERE, args, name, files),
            }
            seconds, same = {k: 0.0 for k in trees}, True
            for i in range(len(files)):
                order = list(trees)[i % 2 :] + list(trees)[: i % 2]
                texts = set()
                for key in order:
                    time.sleep(0.5)  # the last worker's OpenMP threads stop spinning
                    answer = trees[key].transcribe(i)
                    seconds[key] += answer["seconds"]
                    texts.add(answer["text"])
                same &= len(texts) == 1
                print(f"{name} {chosen[i]['id']}: {seconds}", file=sys.stderr, flush=True)
            for tree in trees.values():
                tree.process.stdin.close()
                tree.process.wait()
            result["models"][name] = {**seconds, "speedup": seconds["before"] / seconds["now"],
                                      "same_texts": same}  # fmt: skip
    lines = [
        title(f"Long-form, this checkout against {args.before}", result),
        "",
        f"{len(files)} recordings of `{args.data}` ({result['audio_seconds'] / 60:.1f} min), "
        f"{args.dtype}, word timestamps {'on' if args.word_timestamps else 'off'}, batch size "
        f"{args.batch_size}; each alone, "
        "each tree in its own process, taking turns recording by recording.",
        "",
        "| model | before s | now s | now × before | same texts |",
        "|---|---|---|---|---|",
    ]
    for name, row in result["models"].items():
        lines.append(f"| {name} | {row['before']:.1f} | {row['now']:.1f} | "
                     f"{row['speedup']:.3f}× | {row['same_texts']} |")  # fmt: skip
    write_results(args.output, result, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
