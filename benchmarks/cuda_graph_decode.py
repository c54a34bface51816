"""Transcription on a GPU with each decoding step replayed from a CUDA graph, against eager
steps (`TextDecoder.cuda_graphs`), the two taking turns in one process on real weights.

Two inputs from the test fixtures (they travel with the checkout): the seven clips as a batch of
files, and the seven joined into one recording (cut into parts at its pauses). Each is timed
in float32 and float16, without EAS and with the recommended EAS; the texts of the two step
kinds are compared (they should be the same tokens: the graph replays the eager kernels).

    python benchmarks/cuda_graph_decode.py --model tiny.en --output benchmarks/results/x
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from whisper_eas import EASConfig, load_audio, load_model, transcribe
from whisper_eas.research.bench import run_header, title, write_results

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def fixtures() -> list[np.ndarray]:
    records = [json.loads(line) for line in (DATA / "manifest.jsonl").read_text().splitlines()]
    return [load_audio(DATA / record["audio"]) for record in records]


def timed(model, inputs, eas, graphs: bool) -> tuple[float, list]:
    model.network.decoder.cuda_graphs = graphs
    torch.cuda.synchronize()
    start = time.perf_counter()
    results = transcribe(model, inputs, eas=eas)
    torch.cuda.synchronize()
    results = results if isinstance(results, list) else [results]
    return time.perf_counter() - start, [r.tokens for r in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny.en", help="a checkpoint name or folder")
    parser.add_argument("--eas-for", default="tiny.en", help="whose recommended EAS to use")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--output", default="benchmarks/results/cuda_graph_decode")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error(f"--rounds must be >= 1, got {args.rounds}")
    if not torch.cuda.is_available():
        raise SystemExit("needs a CUDA device")
    clips = fixtures()
    inputs = {"7 clips as files": clips, "one recording of the 7": np.concatenate(clips)}
    seconds = {name: sum(len(c) for c in clips) / 16000 for name in inputs}
    rows = []
    for dtype in ("float32", "float16"):
        model = load_model(args.model, device="cuda", dtype=dtype)
        for eas in (None, EASConfig.recommended(args.eas_for)):
            for name, audio in inputs.items():
                times, texts = {False: [], True: []}, {}
                for graphs in (False, True):  # warm-up: the first call of each records too
                    texts[graphs] = timed(model, audio, eas, graphs)[1]
                for _ in range(args.rounds):
                    for graphs in (False, True):
                        times[graphs].append(timed(model, audio, eas, graphs)[0])
                row = {"dtype": dtype, "eas": eas is not None, "input": name,
                       "audio_s": seconds[name],
                       "eager_s": statistics.median(times[False]),
                       "graphs_s": statistics.median(times[True]),
                       "same_tokens": texts[False] == texts[True]}  # fmt: skip
                row["speed_up"] = row["eager_s"] / row["graphs_s"]
                print(json.dumps(row), flush=True)
                rows.append(row)
        model.network.decoder.cuda_graphs = True
    header = run_header(1, "cuda", model=args.model, rounds=args.rounds)
    lines = [
        title(f"Decoding steps from CUDA graphs against eager steps, {args.model}", header),
        "",
        "`transcribe` end to end (encoder, prompts, fallbacks included); seconds, the median of",
        f"{args.rounds} calls taking turns after one warm-up call each. EAS: the recommended"
        f" setting for {args.eas_for}.",
        "",
        "| dtype | EAS | input | audio s | eager s | graphs s | eager / graphs | same tokens |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['dtype']} | {'on' if r['eas'] else 'off'} | {r['input']} | {r['audio_s']:.1f} | "
        f"{r['eager_s']:.3f} | {r['graphs_s']:.3f} | {r['speed_up']:.2f}× | "
        f"{'yes' if r['same_tokens'] else 'no'} |"
        for r in rows
    ]
    write_results(args.output, {**header, "rows": rows}, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
