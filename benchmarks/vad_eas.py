"""The VAD-aware EAS budget against EAS off and the recommended EAS: accuracy ratio and
end-to-end speed-up on four kinds of audio (short dev-clean clips, speech-filled 30 s windows,
long recordings, recordings with 8-20 s non-speech gaps), the VAD's own time included.

`--split tune` reads the halves a setting may be chosen on (subset300's first 150 clips and the
`tune` chapters), `--split heldout` the rest (to validate a choice, never to make it). One file
at a time (batch 1), greedy, long-form with timestamps; the systems take turns file by file.

    python benchmarks/vad_eas.py --models tiny.en,base --split tune --configs 250:1000,500:1000 \
        --output benchmarks/results/vad_eas_tune
"""

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from whisper_eas import EASConfig, VADBudget, load_model, transcribe
from whisper_eas.research.bench import cpu_flags, run_header, title, write_results
from whisper_eas.research.datasets import read_dataset
from whisper_eas.research.metrics import word_error_rate

DEV = Path("../shared/data/librispeech-dev-clean")


def groups(split: str, limits: dict) -> dict:
    ids = [line.strip() for line in (DEV / "subset300.txt").open()]
    ids = ids[:150] if split == "tune" else ids[150:]
    by_id = {u.id: u for u in read_dataset(DEV)}
    chosen = {"short clips": [by_id[i] for i in ids[: limits["short"]]]}
    for name, folder in (("windows", "data/windows"), ("long", "data/long"), ("gaps", "data/gaps")):
        rows = [json.loads(line) for line in (Path(folder) / "manifest.jsonl").open()]
        wanted = [r["id"] for r in rows if r["group"] == split][: limits[name]]
        by_id = {u.id: u for u in read_dataset(folder)}
        chosen[name] = [by_id[i] for i in wanted]
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--split", choices=("tune", "heldout"), default="tune")
    parser.add_argument("--configs", default="250:1000,500:1000", help="margin_ms:min_pause_ms")
    parser.add_argument("--short", type=int, default=40)
    parser.add_argument("--windows", type=int, default=12)
    parser.add_argument("--long", type=int, default=3)
    parser.add_argument("--gaps", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    limits = {"short": args.short, "windows": args.windows, "long": args.long, "gaps": args.gaps}
    data = groups(args.split, limits)
    result = {
        **run_header(args.threads, cpu_flags=cpu_flags()), "split": args.split,
        "items": {g: [u.id for u in items] for g, items in data.items()}, "models": {},
    }  # fmt: skip
    for name in args.models.split(","):
        model = load_model(name)
        recommended = EASConfig.recommended(name)
        systems = {"off": None, "eas": recommended}
        for config in args.configs.split(","):
            margin, pause = map(int, config.split(":"))
            systems[f"eas vad {margin}/{pause}"] = replace(
                recommended, rule=VADBudget(margin_ms=margin, min_pause_ms=pause)
            )
        transcribe(model, data["short clips"][0].audio, eas=systems[list(systems)[-1]])  # warm-up
        table = {}
        for group, items in data.items():
            if not items:
                continue
            rows = {s: {"texts": [], "seconds": 0.0, "kept": [], "fallbacks": {}} for s in systems}
            names = list(systems)
            for i, item in enumerate(items):
                shift = i % len(names)
                for system in names[shift:] + names[:shift]:
                    start = time.perf_counter()
                    out = transcribe(model, item.audio, eas=systems[system])
                    row = rows[system]
                    row["seconds"] += time.perf_counter() - start
                    row["texts"].append(out.text)
                    row["kept"] += out.kept_tokens
                    for key, count in out.fallbacks.items():
                        row["fallbacks"][key] = row["fallbacks"].get(key, 0) + count
            references = [item.text for item in items]
            for system, row in rows.items():
                row["wer"] = word_error_rate(references, row["texts"])
                row["kept_fraction"] = sum(row["kept"]) / (1500 * max(len(row["kept"]), 1))
                del row["kept"]
            off = rows["off"]
            for row in rows.values():
                row["accuracy_ratio"] = (1 - row["wer"]) / (1 - off["wer"])
                row["speedup"] = off["seconds"] / row["seconds"]
            table[group] = rows
            print(f"{name} {group}: " + ", ".join(
                f"{s} {100 * r['wer']:.2f}% {r['speedup']:.2f}x" for s, r in rows.items()
            ), file=sys.stderr, flush=True)  # fmt: skip
        result["models"][name] = {"configs": {s: str(c) for s, c in systems.items()},
                                  "groups": table}  # fmt: skip
    lines = [
        title(f"VAD-aware EAS budget, {args.split} split", result),
        "",
        "One file at a time, greedy long-form. Accuracy ratio = (1 - WER) / (1 - WER of EAS off); "
        "speed-up = time of EAS off / time (the VAD's time and every fallback included); kept = "
        "mean fraction of the 1500 audio tokens the decoder attended to. `eas`: the recommended "
        "setting (truncation at the audio's end + 300 tokens); `eas vad M/P`: the same with the "
        "speech taken from Silero VAD, M ms of margin, pauses under P ms kept.",
        "",
        f"Items: {', '.join(f'{g} {len(v)}' for g, v in result['items'].items())}.",
        "",
        "| model | audio | system | WER % | accuracy ratio | speed-up | kept | fallbacks |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, entry in result["models"].items():
        for group, rows in entry["groups"].items():
            for system, row in rows.items():
                lines.append(
                    f"| {name} | {group} | {system} | {100 * row['wer']:.2f} | "
                    f"{row['accuracy_ratio']:.4f} | {row['speedup']:.2f}× | "
                    f"{row['kept_fraction']:.2f} | {row['fallbacks'] or ''} |"
                )
    write_results(args.output, result, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
