"""Throughput of a sharded `eval` on this machine: N processes x 1 thread (torchrun, gloo)
against 1 process x N threads, the same utterances, wall-clock time of the whole command
(model loading included), the two taking turns for `--rounds` rounds.

    python benchmarks/shard_throughput.py --model tiny.en --limit 60 --processes 2 \
        --output benchmarks/results/shard_throughput_cpu
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from whisper_eas.research.bench import run_header, title, write_results


def timed(command: list[str]) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "r.jsonl"
        start = time.perf_counter()
        subprocess.run([*command, "--output", str(output)], check=True, capture_output=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
        seconds = time.perf_counter() - start
        record = [json.loads(line) for line in output.read_text().splitlines()][-1]
    return seconds, record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/librispeech-dev-clean")
    parser.add_argument("--subset", default="subset300.txt")
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--output", default="benchmarks/results/shard_throughput_cpu")
    args = parser.parse_args()
    n = args.processes
    common = ["eval", "--data", args.data, "--subset", args.subset, "--limit", str(args.limit),
              "--model", args.model]  # fmt: skip
    systems = {
        f"1 process x {n} threads": [sys.executable, "-m", "whisper_eas", *common,
                                     "--threads", str(n)],
        f"{n} processes x 1 thread": [sys.executable, "-m", "torch.distributed.run",
                                      "--standalone", "--nproc-per-node", str(n), "-m",
                                      "whisper_eas", *common, "--threads", "1"],
    }  # fmt: skip
    seconds = {name: [] for name in systems}
    records = {}
    for round_ in range(args.rounds):
        names = list(systems) if round_ % 2 == 0 else list(systems)[::-1]
        for name in names:
            took, records[name] = timed(systems[name])
            seconds[name].append(took)
            print(f"{name}: {took:.1f} s, WER {records[name]['wer']:.4f}", file=sys.stderr)
    audio = next(iter(records.values()))["audio_seconds"]
    result = {**run_header(args.processes), "model": args.model, "utterances": args.limit,
              "audio_seconds": audio, "seconds": seconds,
              "wer": {name: r["wer"] for name, r in records.items()},
              "same_hypotheses": len({json.dumps(r["hypotheses"])
                                      for r in records.values()}) == 1}  # fmt: skip
    base = statistics.median(seconds[list(systems)[0]])
    lines = [title("Sharded eval throughput", result), "",
             f"{args.model}, {args.limit} utterances of `{args.subset}` ({audio / 60:.1f} min), "
             f"wall-clock seconds of the whole command (model loading included), median of "
             f"{args.rounds}; the same hypotheses in both: {result['same_hypotheses']}.", "",
             "| run | seconds | × 1 process | WER % |", "|---|---|---|---|"]  # fmt: skip
    for name in systems:
        median = statistics.median(seconds[name])
        lines.append(
            f"| {name} | {median:.1f} | {base / median:.2f}× | {100 * result['wer'][name]:.2f} |"
        )
    write_results(args.output, result, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
