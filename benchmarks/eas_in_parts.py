"""EAS truncation after block 1 or 2 against EAS off, on recordings cut into parts (the default
long-form path): time, WER and the fallbacks each fired, tiny.en or base, float32.

    python benchmarks/eas_in_parts.py --model tiny.en --data data/long,data/gaps --limit 12 \
        --output benchmarks/results/eas_in_parts_tiny_cpu

One process, one model; the settings take turns recording by recording (the order rotates),
each recording transcribed alone with the defaults. Recordings: the first `--limit` of each
folder's manifest (benchmarks/build_long_audio.py). A truncation keeps every audio token and
300 tokens of padding after it (the recommended rule), so it drops tokens only in windows that
end before 30 s: a part's last window, a file's last window.
"""

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import torch

from whisper_eas import EASConfig, load_audio, load_model, transcribe
from whisper_eas.research.bench import run_header, title, write_results
from whisper_eas.research.metrics import word_error_rate
from whisper_eas.rules import Truncate

SETTINGS = {
    "off": None,
    "layer 1": EASConfig(1, Truncate(padding_tokens=300)),
    "layer 2": EASConfig(2, Truncate(padding_tokens=300)),
}


def measure(model, folder: Path, limit: int) -> dict:
    rows = [json.loads(line) for line in (folder / "manifest.jsonl").open()][:limit]
    waves = [load_audio(folder / row["audio"]) for row in rows]
    seconds, texts, fired = Counter(), {s: [] for s in SETTINGS}, {s: Counter() for s in SETTINGS}
    for i, wave in enumerate(waves):
        names = list(SETTINGS)
        for name in names[i % len(names) :] + names[: i % len(names)]:
            began = time.perf_counter()
            result = transcribe(model, wave, eas=SETTINGS[name])
            seconds[name] += time.perf_counter() - began
            texts[name].append(result.text)
            fired[name].update(result.fallbacks)
    references = [row["text"] for row in rows]
    return {
        "recordings": [row["id"] for row in rows],
        "audio_seconds": sum(len(w) for w in waves) / 16000,
        "settings": {
            name: {
                "seconds": seconds[name],
                "speed_up": seconds["off"] / seconds[name],
                "wer": word_error_rate(references, texts[name]),
                "fallbacks": dict(fired[name]),
            }
            for name in SETTINGS
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--data", default="data/long,data/gaps")
    parser.add_argument("--limit", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="benchmarks/results/eas_in_parts_tiny_cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    folders = [Path(folder) for folder in args.data.split(",")]
    first = json.loads((folders[0] / "manifest.jsonl").open().readline())
    transcribe(model, load_audio(folders[0] / first["audio"])[: 16000 * 20])  # warm-up
    results = {str(folder): measure(model, folder, args.limit) for folder in folders}
    lines = ["| recordings | setting | seconds | × EAS off | WER % | fallbacks |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for folder, result in results.items():
        for name, r in result["settings"].items():
            lines.append(
                f"| {folder} ({len(result['recordings'])}, "
                f"{result['audio_seconds'] / 60:.1f} min) | {name} | {r['seconds']:.1f} | "
                f"{r['speed_up']:.3f}× | {100 * r['wer']:.2f} | {r['fallbacks']} |"
            )
    header = run_header(args.threads, model=args.model)
    text = (
        title("EAS truncation in parts", header) + "\n\n"
        f"{args.model}, float32, greedy, defaults (cut into parts); one process, the settings "
        "taking turns recording by recording. Truncation: every audio token and 300 of "
        "padding kept, after block 1 or 2.\n\n" + "\n".join(lines) + "\n"
    )
    write_results(args.output, {**header, "results": results}, text)
    print(text)


if __name__ == "__main__":
    main()
