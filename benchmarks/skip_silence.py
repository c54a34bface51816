"""Long stretches without speech skipped (the default, `skip_silence=5.0`) against decoded
(`skip_silence=None`): time, WER, words placed inside the gaps and the fallbacks each fired,
on recordings with gaps (benchmarks/build_long_audio.py writes data/gaps).

    python benchmarks/skip_silence.py --model tiny.en --data data/gaps --limit 40 \
        --output benchmarks/results/skip_silence_tiny_cpu

One process, one model, float32, greedy, word timing on (as benchmarks/gaps.py); the two
settings take turns recording by recording (the order rotates), each recording transcribed
alone. A word counts as placed in a gap when its middle lies more than 0.5 s inside one.
"""

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import torch

from whisper_eas import load_audio, load_model, transcribe
from whisper_eas.research.bench import run_header, title, write_results
from whisper_eas.research.metrics import word_error_rate

SETTINGS = {"decoded": None, "skipped (default)": 5.0}
EDGE = 0.5  # seconds in from each gap edge


def inside(seconds: float, gaps: list) -> bool:
    return any(start + EDGE < seconds < end - EDGE for _, start, end in gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--data", default="data/gaps")
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="benchmarks/results/skip_silence_tiny_cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    folder = Path(args.data)
    rows = [json.loads(line) for line in (folder / "manifest.jsonl").open()][: args.limit]
    transcribe(model, load_audio(folder / rows[0]["audio"])[: 16000 * 20])  # warm-up
    seconds, texts = Counter(), {name: [] for name in SETTINGS}
    invented, fired = Counter(), {name: Counter() for name in SETTINGS}
    for i, row in enumerate(rows):
        wave, names = load_audio(folder / row["audio"]), list(SETTINGS)
        for name in names[i % len(names) :] + names[: i % len(names)]:
            began = time.perf_counter()
            result = transcribe(model, wave, word_timestamps=True, skip_silence=SETTINGS[name])
            seconds[name] += time.perf_counter() - began
            texts[name].append(result.text)
            fired[name].update(result.fallbacks)
            words = [w for s in result.segments for w in s.words]
            invented[name] += sum(inside((w.start + w.end) / 2, row["gaps"]) for w in words)
        print(row["id"], {n: round(100 * word_error_rate([row["text"]], [texts[n][-1]]), 2)
                          for n in SETTINGS}, flush=True)  # fmt: skip
    references = [row["text"] for row in rows]
    audio = sum(row["duration_s"] for row in rows)
    settings = {
        name: {"seconds": seconds[name], "speed_up": seconds["decoded"] / seconds[name],
               "wer": word_error_rate(references, texts[name]), "invented": invented[name],
               "fallbacks": dict(fired[name]), "hypotheses": texts[name]}
        for name in SETTINGS
    }  # fmt: skip
    lines = ["| setting | seconds | × decoded | WER % | words in gaps | fallbacks |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for name, r in settings.items():
        lines.append(
            f"| {name} | {r['seconds']:.1f} | {r['speed_up']:.3f}× | {100 * r['wer']:.2f} | "
            f"{r['invented']} | {r['fallbacks']} |"
        )
    header = run_header(args.threads, model=args.model, data=args.data)
    text = (
        title("Long stretches without speech: skipped or decoded", header) + "\n\n"
        f"{args.model}, float32, greedy, word timing on; {len(rows)} recordings of "
        f"`{args.data}` ({audio / 60:.1f} min); one process, the two settings taking turns "
        "recording by recording.\n\n" + "\n".join(lines) + "\n"
    )
    write_results(args.output, {**header, "recordings": [r["id"] for r in rows],
                                "settings": settings}, text)  # fmt: skip
    print(text)


if __name__ == "__main__":
    main()
