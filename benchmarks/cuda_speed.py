"""Long-form speed and accuracy on a CUDA GPU: ours (float32, float16, float16 with the
recommended EAS, float16 batched over files) against transformers' sequential long-form on the
same GPU and weights.

Greedy, English, each system with its long-form defaults (timestamps, conditioning, temperature
fallback, thresholds; transformers' compression threshold is 1.35, on tokens). Each recording
alone (batch 1, as a user with one file), systems taking turns within each round, the first
rotating; times are medians over rounds, after a warm-up pass whose texts are kept. faster-
whisper is not in the table: CTranslate2's CUDA wheels need CUDA 12 libraries, and the GPU
machine lent here has CUDA 13 and no network.

Two steps, since the GPU machine has no jiwer or normaliser:

    python benchmarks/cuda_speed.py run --data DIR --output out.json        # on the GPU
    python benchmarks/cuda_speed.py report out.json --output benchmarks/results/cuda_speed
"""

import argparse
import datetime
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from whisper_eas import EASConfig, load_audio, load_model, transcribe

TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


DEVICE = "cuda"  # `run --device cpu` tries the script out where there is no GPU


def synchronize():
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def synchronized(run):
    def timed(inputs):
        synchronize()
        start = time.perf_counter()
        texts = run(inputs)
        synchronize()
        return time.perf_counter() - start, texts

    return timed


def ours(
    checkpoint: str, dtype: str, eas: EASConfig | None, batch_size: int = 8, graphs: bool = True
):
    model = load_model(checkpoint, device=DEVICE, dtype=dtype)
    model.network.decoder.cuda_graphs = graphs  # False: every decoding step eager

    def run(waves):
        results = transcribe(model, waves, eas=eas, batch_size=batch_size)
        return [(r.text, r.fallbacks) for r in results]

    return synchronized(run)


def transformers_longform(checkpoint: str, dtype: torch.dtype):
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    from whisper_eas.hub import resolve

    folder = resolve(checkpoint)
    model = (
        WhisperForConditionalGeneration.from_pretrained(
            folder, attn_implementation="sdpa", dtype=dtype
        )
        .to(DEVICE)
        .eval()
    )
    processor = WhisperProcessor.from_pretrained(folder)
    language = {} if model.config.vocab_size < 51865 else {"language": "en"}

    def run(waves):
        texts = []
        for wave in waves:
            inputs = processor(wave, sampling_rate=16000, return_tensors="pt", truncation=False,
                               padding="longest", return_attention_mask=True)  # fmt: skip
            if inputs.input_features.shape[-1] < 3000:  # short input: pad to one window
                inputs = processor(wave, sampling_rate=16000, return_tensors="pt",
                                   return_attention_mask=True)  # fmt: skip
            with torch.inference_mode():
                ids = model.generate(
                    inputs.input_features.to(DEVICE, dtype),
                    attention_mask=inputs.attention_mask.to(DEVICE),
                    return_timestamps=True, condition_on_prev_tokens=True,
                    temperature=TEMPERATURES, num_beams=1, compression_ratio_threshold=1.35,
                    logprob_threshold=-1.0, no_speech_threshold=0.6, **language,
                )  # fmt: skip
            texts.append((processor.batch_decode(ids, skip_special_tokens=True)[0].strip(), {}))
        return texts

    return synchronized(run)


def transformers_chunked(checkpoint: str, dtype: torch.dtype, batch_size: int = 8):
    """transformers' answer for one long file: its pipeline cuts 30 s chunks with overlaps and
    decodes `batch_size` of them side by side (no fallback, no conditioning)."""
    from transformers import pipeline

    from whisper_eas.hub import resolve

    recognise = pipeline(
        "automatic-speech-recognition", model=str(resolve(checkpoint)), dtype=dtype,
        device=DEVICE, chunk_length_s=30, batch_size=batch_size, ignore_warning=True,
    )  # fmt: skip
    recognise.tokenizer.pad_token_id = recognise.model.config.eos_token_id  # batching needs one
    english = {} if recognise.model.config.vocab_size < 51865 else {"language": "en"}

    def run(waves):
        inputs = [{"raw": wave, "sampling_rate": 16000} for wave in waves]
        return [(recognise(i, generate_kwargs=english)["text"].strip(), {}) for i in inputs]

    return synchronized(run)


def run(args) -> None:
    global DEVICE
    DEVICE = args.device
    on_gpu = DEVICE == "cuda"
    records = [json.loads(line) for line in (Path(args.data) / "manifest.jsonl").open()]
    waves = [load_audio(Path(args.data) / r["audio"]) for r in records]
    clips = [load_audio(path) for path in sorted(Path(args.clips).glob("*.flac"))]
    eas = EASConfig.recommended(args.model_name)
    makers = {  # "ours" without --batch-size 1 is our default: one file decoded as parts
        "ours float32": lambda: ours(args.checkpoint, "float32", None),
        "ours float32 (eager steps)": lambda: ours(args.checkpoint, "float32", None, graphs=False),
        "ours float32 --batch-size 1": lambda: ours(args.checkpoint, "float32", None, 1),
        "ours float32 --batch-size 1 (eager steps)": lambda: ours(
            args.checkpoint, "float32", None, 1, graphs=False
        ),
        "ours float16": lambda: ours(args.checkpoint, "float16", None),
        "ours bfloat16": lambda: ours(args.checkpoint, "bfloat16", None),
        "ours float16 --eas": lambda: ours(args.checkpoint, "float16", eas),
        "transformers float32": lambda: transformers_longform(args.checkpoint, torch.float32),
        "transformers float16": lambda: transformers_longform(args.checkpoint, torch.float16),
        "transformers float16 chunked batch 8": lambda: transformers_chunked(
            args.checkpoint, torch.float16
        ),
    }
    systems, errors = {}, {}

    def failed(name: str, error: Exception) -> None:
        # A lease is short: one system that fails must not cost the others' numbers.
        errors[name] = repr(error)
        print(f"{name}: {error!r}", file=sys.stderr, flush=True)

    chosen = args.systems.split(",") if args.systems else list(makers)
    if set(chosen) - set(makers):
        raise SystemExit(f"unknown systems {sorted(set(chosen) - set(makers))}; "
                         f"choose from {list(makers)}")  # fmt: skip
    for name, make in ((n, makers[n]) for n in chosen) if "one" in args.parts else ():
        try:
            systems[name] = make()
        except Exception as error:  # noqa: BLE001
            failed(name, error)
    result = {
        "date": datetime.date.today().isoformat(), "commit": args.commit,
        "device": torch.cuda.get_device_name() if on_gpu else "cpu", "torch": torch.__version__,
        "cuda": torch.version.cuda, "model": args.model_name, "rounds": args.rounds,
        "recordings": [r["id"] for r in records], "references": [r["text"] for r in records],
        "seconds": [len(w) / 16000 for w in waves], "one_file": {}, "many_files": {},
        "errors": errors,
    }  # fmt: skip
    import transformers

    result["transformers"] = transformers.__version__
    # Each recording alone: systems take turns, the first rotating from round to round.
    names = list(systems) if "one" in args.parts else []
    for name in list(names):
        try:
            systems[name](waves[:1])  # warm-up
        except Exception as error:  # noqa: BLE001
            failed(name, error)
            names.remove(name)
            continue
        result["one_file"][name] = {"times": [[] for _ in waves], "texts": [], "fallbacks": []}
    for i, wave in enumerate(waves if names else []):
        for round_ in range(args.rounds + 1):
            shift = (i + round_) % len(names)
            for name in names[shift:] + names[:shift]:
                seconds, [(text, fallbacks)] = systems[name]([wave])
                row = result["one_file"][name]
                if round_ == 0:  # the first pass: texts, not timed
                    row["texts"].append(text)
                    row["fallbacks"].append(fallbacks)
                else:
                    row["times"][i].append(seconds)
        print(f"recording {i} done", file=sys.stderr, flush=True)
        Path(args.output).write_text(json.dumps(result, indent=1) + "\n")  # a partial run counts
    if "many" not in args.parts:
        return
    # Many files: the recordings and the short clips, batched 8 across files against one by one.
    many = waves + clips
    result["many_files"]["inputs"] = len(many)
    result["many_files"]["seconds"] = sum(len(w) for w in many) / 16000
    batched = {
        f"ours float16 {'--eas ' if e else ''}batch {b}": ours(args.checkpoint, "float16", e, b)
        for e in (None, eas)
        for b in (1, 8)
    }
    for name, system in batched.items():
        system(many[:2])  # warm-up
    for name in batched:
        result["many_files"][name] = {"times": []}
    for round_ in range(args.rounds):
        for name, system in batched.items():
            if on_gpu:
                torch.cuda.reset_peak_memory_stats()
            seconds, texts = system(many)
            row = result["many_files"][name]
            row["times"].append(seconds)
            row["texts"] = [text for text, _ in texts]
            row["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30 if on_gpu else 0.0
        Path(args.output).write_text(json.dumps(result, indent=1) + "\n")
    Path(args.output).write_text(json.dumps(result, indent=1) + "\n")


def report(args) -> None:
    from whisper_eas.research.bench import title, write_results
    from whisper_eas.research.metrics import word_error_rate

    result = json.loads(Path(args.results[0]).read_text())
    for more in args.results[1:]:  # parts run separately: each section from the run that has it
        extra = json.loads(Path(more).read_text())
        for section in ("one_file", "many_files"):
            result[section] = result[section] or extra[section]
    rows = result["one_file"]
    # A run cut short by its time limit: the recordings every system finished.
    done = [
        i for i in range(len(result["recordings"])) if all(r["times"][i] for r in rows.values())
    ]
    for key in ("recordings", "references", "seconds"):
        result[key] = [result[key][i] for i in done]
    for row in rows.values():
        for key in ("times", "texts", "fallbacks"):
            row[key] = [row[key][i] for i in done]
    total = sum(result["seconds"])
    lines = [
        title("Long-form on a GPU", result),
        "",
        f"CUDA {result['cuda']}, transformers {result['transformers']}.",
        "",
        f"Model {result['model']}, greedy, each system's long-form defaults. "
        f"{len(result['recordings'])} dev-clean recordings ({total / 60:.1f} min): "
        + ", ".join(f"{r} ({s:.0f} s)" for r, s in zip(result["recordings"], result["seconds"])),
        "",
        "## One recording at a time",
        "",
        "Ours without `--batch-size 1` is our default: the file cut at pauses into parts decoded "
        "side by side (up to 8 rows), each with its own timestamps, fallback and conditioning.",
        "",
        f"Seconds per recording: median of {result['rounds']} interleaved rounds, summed.",
        "",
        "| system | WER % | seconds | RTF | × transformers float16 | fallbacks |",
        "|---|---|---|---|---|---|",
    ]
    seconds = {n: sum(statistics.median(t) for t in row["times"]) for n, row in rows.items()}
    for name, row in rows.items():
        wer = word_error_rate(result["references"], row["texts"])
        fired = {}
        for fallbacks in row["fallbacks"]:
            for key, count in fallbacks.items():
                fired[key] = fired.get(key, 0) + count
        lines.append(
            f"| {name} | {100 * wer:.2f} | {seconds[name]:.2f} | {seconds[name] / total:.4f} | "
            f"{seconds['transformers float16'] / seconds[name]:.2f}× | {fired or ''} |"
        )
    for name, error in result.get("errors", {}).items():
        lines.append(f"\n{name} did not run: `{error}`")
    many = result["many_files"]
    if many:  # absent when the run had no many-files part
        lines += [
            "",
            f"## Many files ({many['inputs']} inputs, {many['seconds'] / 60:.1f} min: the "
            "recordings and the test fixtures' clips)",
            "",
            "| system | seconds (median) | × batch 1 | peak GPU memory GiB |",
            "|---|---|---|---|",
        ]
    for name, row in many.items():
        if not isinstance(row, dict):
            continue
        alone = many[name.replace("batch 8", "batch 1")]
        median = statistics.median(row["times"])
        lines.append(
            f"| {name} | {median:.2f} | {statistics.median(alone['times']) / median:.2f}× | "
            f"{row['peak_gib']:.2f} |"
        )
    write_results(args.output, result, "\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    on_gpu = commands.add_parser("run")
    on_gpu.add_argument(
        "--data", required=True, help="folder with manifest.jsonl (id, audio, text)"
    )
    on_gpu.add_argument("--clips", default="tests/data")
    on_gpu.add_argument("--checkpoint", default="tiny.en", help="name or converted HF folder")
    on_gpu.add_argument("--model-name", default="tiny.en", help="for the recommended EAS")
    on_gpu.add_argument("--rounds", type=int, default=3)
    on_gpu.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    on_gpu.add_argument("--parts", default="one,many", help="one: each recording alone; many: "
                        "all inputs batched against one by one")  # fmt: skip
    on_gpu.add_argument("--systems", help="comma-separated names of the one-file systems "
                        "to run (default: all)")  # fmt: skip
    on_gpu.add_argument("--commit", default="unknown")
    on_gpu.add_argument("--output", required=True)
    summary = commands.add_parser("report")
    summary.add_argument("results", nargs="+", help="run outputs; later ones add their parts")
    summary.add_argument("--output", default="benchmarks/results/cuda_speed")
    args = parser.parse_args()
    run(args) if args.command == "run" else report(args)


if __name__ == "__main__":
    main()
