"""End-to-end speed-up of the recommended EAS setting over EAS off, fallbacks included, at
batch 1 and batch 8, on short clips and on speech-filled 27-30 s windows; with `--dtypes`,
also of int8 / bfloat16 weights, each with EAS off and on, against float32 EAS off.

The systems (per dtype one model object, EAS off and `EASConfig.recommended(model)`) take
turns batch by batch, the first rotating, so the shared machine's drift reaches all alike. A
batch is timed end to end through `transcribe` (mel, encoder, decoding, fallbacks); the
encoder / decoder split comes from forward hooks (`research.metrics.StageTimer`). WER after
Whisper's English normaliser.

    python benchmarks/eas_speed.py --models base,tiny.en --output benchmarks/results/eas_speed_cpu
    python benchmarks/eas_speed.py --dtypes float32,int8 --output benchmarks/results/dtypes_cpu
"""

import argparse
import json
import time

import torch

from whisper_eas import EASConfig, load_audio, load_model, transcribe
from whisper_eas.research.bench import run_header, title, write_results
from whisper_eas.research.datasets import read_dataset
from whisper_eas.research.metrics import StageTimer, word_error_rate

DEV = "../shared/data/librispeech-dev-clean"


def measure(models: dict, name: str, utterances, batch: int) -> dict:
    """models: dtype -> loaded model. Systems "<dtype>" (EAS off) and "<dtype>+eas"."""
    waves = [load_audio(u.audio) for u in utterances]
    language = None if name.endswith(".en") else "en"
    systems = {}
    for dtype, model in models.items():
        systems[dtype] = (model, None)
        systems[f"{dtype}+eas"] = (model, EASConfig.recommended(name))
    texts = {s: [] for s in systems}
    seconds = {s: 0.0 for s in systems}
    fallbacks = {s: {} for s in systems}
    kept = {s: [] for s in systems}
    timers = {s: StageTimer(model.network) for s, (model, _) in systems.items()}
    for model, eas in systems.values():  # warm-up
        transcribe(model, waves[:batch], eas=eas, language=language, batch_size=batch)
    names = list(systems)
    for number, start in enumerate(range(0, len(waves), batch)):
        chunk = waves[start : start + batch]
        shift = number % len(names)
        for system in names[shift:] + names[:shift]:
            model, eas = systems[system]
            began = time.perf_counter()
            with timers[system]:
                results = transcribe(model, chunk, eas=eas, language=language, batch_size=batch)
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
            "fallbacks": fallbacks[s], "mean_kept_tokens": sum(kept[s]) / len(kept[s]),
            "encoder_s": timers[s].totals["encoder"], "decoder_s": timers[s].totals["decoder"],
            "total_s": seconds[s]}
        for s in systems
    } | {"audio_seconds": audio, "utterances": len(utterances)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default="base,tiny.en")
    parser.add_argument("--short", type=int, default=48, help="short clips (subset300, from #150)")
    parser.add_argument("--windows", type=int, default=16, help="speech-filled windows (heldout)")
    parser.add_argument("--batch-sizes", default="1,8")
    parser.add_argument("--dtypes", default="float32", help="e.g. float32,int8,bfloat16")
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
    result = run_header(args.threads, runs=[])
    for name in args.models.split(","):
        models = {dtype: load_model(name, dtype=dtype) for dtype in args.dtypes.split(",")}
        for group, utterances in groups.items():
            for batch in map(int, args.batch_sizes.split(",")):
                row = measure(models, name, utterances, batch)
                row |= {"model": name, "group": group, "batch": batch,
                        "eas_config": str(EASConfig.recommended(name))}  # fmt: skip
                result["runs"].append(row)
                print(json.dumps(row), flush=True)
    baseline = args.dtypes.split(",")[0]
    lines = [title(f"Recommended EAS and weight dtypes against {baseline} EAS off", result), "",
             "| model | audio | batch | system | WER % | accuracy ratio | RTF | speed-up | "
             "encoder / decoder s | mean kept tokens | EAS fallbacks |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in result["runs"]:
        reference = r[baseline]
        for system in [s for s in r if isinstance(r[s], dict)]:
            m = r[system]
            lines.append(
                f"| {r['model']} | {r['group']} ({r['utterances']}, {r['audio_seconds']:.0f} s) "
                f"| {r['batch']} | {system} | {100 * m['wer']:.2f} | "
                f"{(1 - m['wer']) / (1 - reference['wer']):.4f} | {m['rtf']:.4f} | "
                f"{reference['rtf'] / m['rtf']:.2f}× | {m['encoder_s']:.1f} / {m['decoder_s']:.1f} "
                f"| {m['mean_kept_tokens']:.0f} | {m['fallbacks'] or ''} |"
            )
    write_results(args.output, result, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
