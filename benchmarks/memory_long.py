"""Peak memory of one long recording (about an hour), each system in a fresh process: ours cut
into parts (batch 8, the default) and whole (`--batch-size 1`), faster-whisper sequential and
batched, the same dtype. The recording is the first `data/long` recordings joined (in order)
until it reaches the length asked for, written as a 16-bit WAV file whose path each system is
given, as a user gives it (each system reads the file itself).

    python benchmarks/memory_long.py --model tiny.en --dtype int8 --minutes 60 \
        --output benchmarks/results/memory_long_cpu
"""

import argparse
import json
import resource
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import torch

from whisper_eas import load_audio
from whisper_eas.research.bench import run_header, title, write_results

SYSTEMS = ("ours", "ours-b1", "faster-whisper", "faster-whisper-batched")


def build(data: Path, minutes: float, path: Path) -> tuple[float, str]:
    """Join recordings of `data` until `minutes`, written to `path`; returns the length in
    seconds and the joined reference text."""
    records = [json.loads(line) for line in (data / "manifest.jsonl").read_text().splitlines()]
    waves, texts, seconds = [], [], 0.0
    for record in records:
        if seconds >= minutes * 60:
            break
        waves.append(load_audio(data / record["audio"]))
        texts.append(record["text"])
        seconds += len(waves[-1]) / 16000
    samples = np.clip(np.concatenate(waves), -1, 1)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(16_000)
        out.writeframes((samples * 32767).astype("<i2").tobytes())
    return seconds, " ".join(texts)


def worker(system: str, model: str, dtype: str, audio: str, threads: int) -> None:
    torch.set_num_threads(threads)
    start = time.perf_counter()
    if system.startswith("ours"):
        from whisper_eas import load_model, transcribe

        network = load_model(model, dtype=dtype)
        result = transcribe(network, audio, batch_size=1 if system == "ours-b1" else 8)
        words, parts = len(result.text.split()), result.parts
    else:
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        from whisper_eas.research.bench import ct2_folder

        fw = WhisperModel(str(ct2_folder(model)), device="cpu", compute_type=dtype,
                          cpu_threads=threads)  # fmt: skip
        if system == "faster-whisper-batched":
            segments, _ = BatchedInferencePipeline(fw).transcribe(
                audio, language="en", beam_size=1, batch_size=8
            )
        else:
            segments, _ = fw.transcribe(audio, language="en", beam_size=1, best_of=1)
        words, parts = sum(len(s.text.split()) for s in segments), 0
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "peak_bytes": peak, "words": words, "parts": parts}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/long")
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--dtype", default="int8")
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--output", default="benchmarks/results/memory_long_cpu")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--audio", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.model, args.dtype, args.audio, args.threads)
    audio = Path("data") / f"joined_{args.minutes:g}min.wav"
    seconds, _ = build(Path(args.data), args.minutes, audio)
    rows = {}
    for system in args.systems.split(","):  # one after another, each in a fresh process
        command = [sys.executable, __file__, "--worker", system, "--model", args.model,
                   "--dtype", args.dtype, "--audio", str(audio),
                   "--threads", str(args.threads)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        rows[system] = json.loads(done.stdout.strip().splitlines()[-1])
        print(system, rows[system], file=sys.stderr, flush=True)
    result = run_header(
        args.threads, model=args.model, dtype=args.dtype, audio_seconds=seconds, systems=rows
    )
    lines = [title(f"One {seconds / 60:.0f}-minute recording: peak memory", result), "",
             f"{args.model} {args.dtype}, greedy; each system in a fresh process (peak RSS "
             "of the process: model, audio, features and caches).", "",
             "| system | peak RSS GB | seconds | RTF | words | parts |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for system, row in rows.items():
        lines.append(
            f"| {system} | {row['peak_bytes'] / 2**30:.2f} | {row['seconds']:.0f} | "
            f"{row['seconds'] / seconds:.4f} | {row['words']} | {row['parts'] or ''} |"
        )
    write_results(args.output, result, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
