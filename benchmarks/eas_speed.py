"""End-to-end speed-up of the recommended EAS setting over EAS off, fallbacks included, at
batch 1 and batch 8, on short clips and on speech-filled 27-30 s windows.

The two systems (same model object, EAS off and `EASConfig.recommended(model)`) take turns
batch by batch, the first alternating, so the shared machine's drift reaches both alike. A
batch is timed end to end through `transcribe` (mel, encoder, decoding, fallbacks). WER after
Whisper's English normaliser.

    python benchmarks/eas_speed.py --models base,tiny.en --output benchmarks/results/eas_speed_cpu
"""

import argparse
import datetime
import json
import time
from pathlib import Path

import torch

from whisper_eas import EASConfig, load_audio, load_model, transcribe
from whisper_eas.research.bench import device_name, git_commit, write_results
from whisper_eas.research.datasets import read_dataset
from whisper_eas.research.metrics import word_error_rate

DEV = "../shared/data/librispeech-dev-clean"


def measure(model, name, utterances, batch: int) -> dict:
    waves = [load_audio(u.audio) for u in utterances]
    language = "en" if model.tokenizer.multilingual else None
    systems = {"off": None, "eas": EASConfig.recommended(name)}
    texts = {s: [] for s in systems}
    seconds = {s: 0.0 for s in systems}
    fallbacks = {s: {} for s in systems}
    kept = {s: [] for s in systems}
    transcribe(model, waves[:batch], language=language, batch_size=batch)  # warm-up
    for number, start in enumerate(range(0, len(waves), batch)):
        chunk = waves[start : start + batch]
        order = list(systems) if number % 2 == 0 else list(systems)[::-1]
        for system in order:
            began = time.perf_counter()
            results = transcribe(
                model, chunk, eas=systems[system], language=language, batch_size=batch
            )
            seconds[system] += time.perf_counter() - began
            texts[system] += [r.text for r in results]
            for r in results:
                kept[system] += r.kept_tokens
                for key, count in r.fallbacks.items():
                    fallbacks[system][key] = fallbacks[system].get(key, 0) + count
    audio = sum(len(w) for w in waves) / 16000
    refs = [u.text for u in utterances]
    return {
        s: {"rtf": seconds[s] / audio, "wer": word_error_rate(refs, texts[s]),
            "fallbacks": fallbacks[s], "mean_kept_tokens": sum(kept[s]) / len(kept[s])}
        for s in systems
    } | {"audio_seconds": audio, "utterances": len(utterances)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="base,tiny.en")
    parser.add_argument("--short", type=int, default=48, help="short clips (subset300, from #150)")
    parser.add_argument("--windows", type=int, default=16, help="speech-filled windows (heldout)")
    parser.add_argument("--batch-sizes", default="1,8")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="benchmarks/results/eas_speed_cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # Clips and windows the search did not see: subset300 from #150 on, heldout windows.
    ids = [line.strip() for line in open(f"{DEV}/subset300.txt")][150 : 150 + args.short]
    by_id = {u.id: u for u in read_dataset(DEV)}
    groups = {"short clips": [by_id[i] for i in ids]}
    rows = [json.loads(line) for line in open("data/windows/manifest.jsonl")]
    heldout = {r["id"] for r in rows if r["group"] == "heldout"}
    groups["speech-filled windows"] = [u for u in read_dataset("data/windows") if u.id in heldout][
        : args.windows
    ]
    result = {"date": datetime.date.today().isoformat(), "commit": git_commit(),
              "device": device_name("cpu"), "threads": args.threads, "torch": torch.__version__,
              "runs": []}  # fmt: skip
    for name in args.models.split(","):
        model = load_model(name)
        for group, utterances in groups.items():
            for batch in map(int, args.batch_sizes.split(",")):
                row = measure(model, name, utterances, batch)
                row |= {"model": name, "group": group, "batch": batch,
                        "eas_config": str(EASConfig.recommended(name))}  # fmt: skip
                result["runs"].append(row)
                print(json.dumps(row), flush=True)
    lines = [f"# Recommended EAS vs EAS off ({result['date']}, commit {result['commit']}, "
             f"{result['device']}, {args.threads} threads)", "",
             "| model | audio | batch | EAS off: WER % / RTF | EAS: WER % / RTF | accuracy ratio | "
             "speed-up | mean kept tokens | EAS fallbacks |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in result["runs"]:
        off, eas = r["off"], r["eas"]
        lines.append(
            f"| {r['model']} | {r['group']} ({r['utterances']}, {r['audio_seconds']:.0f} s) | "
            f"{r['batch']} | {100 * off['wer']:.2f} / {off['rtf']:.4f} | "
            f"{100 * eas['wer']:.2f} / {eas['rtf']:.4f} | {(1 - eas['wer']) / (1 - off['wer']):.4f} | "
            f"{off['rtf'] / eas['rtf']:.2f}× | {eas['mean_kept_tokens']:.0f} | {eas['fallbacks'] or ''} |"
        )
    write_results(args.output, result, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
