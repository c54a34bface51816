"""whisper-eas against the Whisper implementations people use, side by side, in one run.

Same clips (default: the first 100 of dev-clean subset300, all shorter than 30 s), same
weights (the bundled OpenAI checkpoints: CTranslate2 files for faster-whisper, their
Hugging Face conversion for transformers, our state dict for openai-whisper, whose module
names ours follow), greedy, no timestamps, language fixed to English, fp32.

Each system runs in its own worker process: it loads its model, decodes the audio files
(untimed: I/O is not inference) and transcribes the first batch to warm up. Then the parent
has the workers take turns: batch i runs on every system before batch i + 1 starts, the
first system rotating, so that the machine's drift (other tenants, clock changes) reaches
every system alike and the ratios stay fair. Only one worker computes at a time. A batch is
timed end to end (features + encoder + decoding + detokenising). The parent computes WER
with the same normaliser for all (`whisper_eas.evaluate.word_error_rate`), RTF, speed-ups
against transformers SDPA, faster-whisper float32 and our EAS-off baseline at the same batch
size, tokens per utterance and peak memory (CPU: the worker's peak resident set, which
includes the Python runtime and the weights, and for openai-whisper our copy of the weights
it loads from; CUDA: torch's peak allocation, torch-based systems only).

    pip install -e ".[bench]"
    python benchmarks/peers.py --models base,tiny.en --batch-sizes 1,8 \
        --eas base=3:0.3,base=4:0.5,tiny.en=3:0.3 --output benchmarks/results/peers_cpu

Batch > 1 runs only for systems that batch files together: whisper-eas and transformers.
(faster-whisper's batched pipeline batches VAD chunks of one file; openai-whisper's
`transcribe` takes one file.)
"""

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch

DATA = Path(__file__).resolve().parents[2] / "shared/data/librispeech-dev-clean"
SYSTEMS = (
    "whisper-eas",
    "whisper-eas+EAS",
    "whisper-eas-int8",
    "whisper-eas-int8+EAS",
    "whisper-eas-bf16",
    "whisper-eas-bf16+EAS",
    "transformers-eager",
    "transformers-sdpa",
    "faster-whisper-fp32",
    "faster-whisper-int8",
    "openai-whisper",
)
BATCHED = tuple(s for s in SYSTEMS if s.startswith(("whisper-eas", "transformers")))
REFERENCES = (
    "transformers-sdpa",
    "faster-whisper-fp32",
    "faster-whisper-int8",
    "whisper-eas",
)  # speed-ups are against these
MARKER = "@peers "


# --- one system in one process ------------------------------------------------------------


def make_runner(system: str, name: str, eas: str | None, device: str):
    """-> run(list of waveforms) -> list of (text, number of text tokens)."""
    english_only = name.endswith(".en")
    if system.startswith("whisper-eas"):
        from whisper_eas import EASConfig, TopK, load_model, transcribe

        dtype = {"int8": "int8", "bf16": "bfloat16"}.get(
            system.split("+")[0].removeprefix("whisper-eas-"), "float32"
        )
        model = load_model(name, device=device, dtype=dtype)
        config = None
        if system.endswith("EAS") and eas == "recommended":
            config = EASConfig.recommended(name)
        elif system.endswith("EAS"):
            layer, sparsity = eas.split(":")
            config = EASConfig(int(layer), TopK(float(sparsity)))

        def run(waves):
            results = transcribe(
                model,
                waves,
                eas=config,
                language=None if english_only else "en",
                batch_size=len(waves),
                timestamps=False,
            )
            return [(r.text, len(r.tokens)) for r in results]

        return run
    if system.startswith("transformers"):
        from transformers import (
            WhisperFeatureExtractor,
            WhisperForConditionalGeneration,
            WhisperTokenizerFast,
        )

        from whisper_eas.hub import resolve

        folder = resolve(name)
        implementation = system.split("-")[1]
        model = (
            WhisperForConditionalGeneration.from_pretrained(
                folder, attn_implementation=implementation
            )
            .to(device)
            .eval()
        )
        extractor = WhisperFeatureExtractor.from_pretrained(folder)
        tokenizer = WhisperTokenizerFast.from_pretrained(folder)
        eot = model.generation_config.eos_token_id
        language = {} if english_only else {"language": "en", "task": "transcribe"}

        def run(waves):
            features = extractor(waves, sampling_rate=16000, return_tensors="pt").input_features.to(
                device
            )
            with torch.inference_mode():
                sequences = model.generate(
                    features,
                    max_new_tokens=224,
                    num_beams=1,
                    do_sample=False,
                    return_timestamps=False,
                    **language,
                )
            texts = tokenizer.batch_decode(sequences, skip_special_tokens=True)
            return [(text.strip(), int((row < eot).sum())) for text, row in zip(texts, sequences)]

        return run
    if system.startswith("faster-whisper"):
        from faster_whisper import WhisperModel

        from whisper_eas.research.bench import ct2_folder

        compute_type = "float32" if system.endswith("fp32") else "int8"
        model = WhisperModel(
            str(ct2_folder(name)),
            device=device,
            compute_type=compute_type,
            cpu_threads=torch.get_num_threads(),
        )

        def run(waves):
            outputs = []
            for wave in waves:
                segments, _ = model.transcribe(
                    wave,
                    language="en",
                    beam_size=1,
                    best_of=1,
                    temperature=0.0,
                    without_timestamps=True,
                    condition_on_previous_text=False,
                    vad_filter=False,
                )
                segments = list(segments)
                outputs.append(
                    (
                        " ".join(s.text.strip() for s in segments),
                        sum(len(s.tokens) for s in segments),
                    )
                )
            return outputs

        return run
    if system == "openai-whisper":
        import whisper

        from whisper_eas import load_model

        ours = load_model(name)
        model = whisper.model.Whisper(whisper.model.ModelDimensions(**vars(ours.dims)))
        model.load_state_dict(
            {k: v.contiguous() for k, v in ours.network.state_dict().items()}
        )  # same module names as ours
        model = model.to(device).eval()
        del ours

        def run(waves):
            outputs = []
            for wave in waves:
                result = whisper.transcribe(
                    model,
                    wave,
                    language="en",
                    temperature=0.0,
                    without_timestamps=True,
                    condition_on_previous_text=False,
                    fp16=False,
                    verbose=None,
                )
                outputs.append(
                    (result["text"].strip(), sum(len(s["tokens"]) for s in result["segments"]))
                )
            return outputs

        return run
    raise ValueError(f"unknown system {system!r}; choose from {SYSTEMS}")


def emit(record: dict) -> None:
    """One result line for the parent; the marker keeps stray library output out of the protocol."""
    print(MARKER + json.dumps(record), flush=True)


def serve_recordings(run, folder: str, records: list[dict], answer) -> None:
    """A long-form worker's loop: warm `run` up on 20 s of the first recording, then transcribe
    the recordings the parent names on stdin (indices into `records`), one at a time, each
    alone, emitting {"seconds": ..., **answer(what run returned)} for each."""
    from whisper_eas import load_audio

    run(load_audio(Path(folder) / records[0]["audio"])[: 16000 * 20])  # warm-up
    emit({"ready": True})
    for line in sys.stdin:
        if line.strip() == "done":
            break
        wave = load_audio(Path(folder) / records[int(line)]["audio"])
        start = time.perf_counter()
        output = run(wave)
        emit({"seconds": time.perf_counter() - start, **answer(output)})


def worker(args) -> None:
    """Load one system, warm it up, then time the batches the parent names on stdin, one at a
    time."""
    from whisper_eas import load_audio
    from whisper_eas.research.datasets import read_dataset

    utterances = read_dataset(args.data, args.subset, args.limit)
    waves = [load_audio(u.audio) for u in utterances]
    run = make_runner(args.system, args.model_name, args.eas_config, args.device)
    batches = [waves[i : i + args.batch] for i in range(0, len(waves), args.batch)]
    cuda = args.device.startswith("cuda")
    run(batches[0])  # warm-up
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    emit({"ready": len(batches)})
    for line in sys.stdin:
        if line.strip() == "done":
            break
        batch = batches[int(line)]
        start = time.perf_counter()
        outputs = run(batch)
        if cuda:
            torch.cuda.synchronize()
        emit(
            {
                "seconds": time.perf_counter() - start,
                "texts": [t for t, _ in outputs],
                "tokens": [n for _, n in outputs],
            }
        )
    peak = (
        torch.cuda.max_memory_allocated()
        if cuda
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    emit(
        {
            "peak_memory_bytes": peak,
            "ids": [u.id for u in utterances],
            "references": [u.text for u in utterances],
            "audio_seconds": sum(len(w) for w in waves) / 16000,
        }
    )


class Worker:
    """The parent's handle on one worker process; stderr goes to a file, read if it fails."""

    def __init__(self, command: list[str]):
        self.log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True
        )

    def receive(self) -> dict:
        for line in self.process.stdout:
            if line.startswith(MARKER):
                return json.loads(line[len(MARKER) :])
        self.process.wait()
        self.log.seek(0)
        error = self.log.read().strip()
        print(error[-3000:], file=sys.stderr)
        raise RuntimeError(
            error.splitlines()[-1]
            if error
            else f"worker exited with status {self.process.returncode}"
        )

    def send(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()


def compare(systems: list[str], name: str, batch: int, args) -> list[dict]:
    """Start one worker per system, then time batch i on every system before batch i + 1,
    rotating who goes first: machine drift (other tenants, clocks) hits all systems alike."""
    workers, failed = {}, []
    for system in systems:
        label = system.split("@")[0]
        command = [
            sys.executable,
            __file__,
            "--worker",
            "--system",
            label,
            "--model-name",
            name,
            "--batch",
            str(batch),
            "--data",
            args.data,
            "--subset",
            args.subset,
            "--limit",
            str(args.limit),
            "--device",
            args.device,
        ]
        if "@" in system:
            command += ["--eas-config", system.split("@")[1]]
        print(f"{name} batch {batch}: starting {system} ...", file=sys.stderr, flush=True)
        worker = Worker(command)
        try:
            n_batches = worker.receive()["ready"]  # loaded and warm, one at a time
            workers[system] = worker
        except RuntimeError as error:
            failed.append({"model": name, "batch": batch, "system": system, "error": str(error)})
    measured = {system: {"seconds": 0.0, "texts": [], "tokens": []} for system in workers}
    for index in range(n_batches if workers else 0):
        order = list(workers)
        order = order[index % len(order) :] + order[: index % len(order)]
        for system in order:
            workers[system].send(str(index))
            result = workers[system].receive()
            measured[system]["seconds"] += result["seconds"]
            measured[system]["texts"] += result["texts"]
            measured[system]["tokens"] += result["tokens"]
        print(f"  batch {index + 1}/{n_batches}", file=sys.stderr, end="\r", flush=True)
    for system, worker in workers.items():
        worker.send("done")
        measured[system].update(worker.receive())
        worker.process.wait()
    return [row_of(name, batch, system, m) for system, m in measured.items()] + failed


def row_of(name: str, batch: int, system: str, measured: dict) -> dict:
    from whisper_eas.research.metrics import word_error_rate

    row = {
        "model": name,
        "batch": batch,
        "system": system.replace("@", " "),
        "rtf": measured["seconds"] / measured["audio_seconds"],
        "wer": word_error_rate(measured["references"], measured["texts"]),
        "tokens_per_utterance": sum(measured["tokens"]) / len(measured["tokens"]),
        "peak_memory_mib": measured["peak_memory_bytes"] / 2**20,
        "seconds": measured["seconds"],
        "audio_seconds": measured["audio_seconds"],
        "utterances": len(measured["ids"]),
    }
    print(
        f"{name} batch {batch}: {row['system']}: RTF {row['rtf']:.4f}  "
        f"WER {100 * row['wer']:.2f} %",
        file=sys.stderr,
        flush=True,
    )
    return row


# --- the parent: run all, compare, write -------------------------------------------------


def versions() -> dict:
    found = {}
    for package in (
        "torch",
        "transformers",
        "faster-whisper",
        "ctranslate2",
        "openai-whisper",
        "whisper-eas",
    ):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="base,tiny.en")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--batch-sizes", default="1,8")
    parser.add_argument(
        "--eas",
        default="base=recommended,tiny.en=recommended",
        help="model=layer:sparsity or model=recommended, ... (repeat a model for several)",
    )
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--subset", default=str(DATA / "subset300.txt"))
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output", help="path prefix for .json and .md")
    # internal: one system in a worker process
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--system", help=argparse.SUPPRESS)
    parser.add_argument("--model-name", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--eas-config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    from whisper_eas.research.bench import run_header, write_results

    eas: dict[str, list[str]] = {}
    for item in filter(None, args.eas.split(",")):
        name, _, config = item.partition("=")
        layer, _, sparsity = config.partition(":")
        if config != "recommended" and not (
            layer.isdigit() and sparsity.replace(".", "", 1).isdigit()
        ):
            parser.error(f"--eas wants model=layer:sparsity items, e.g. base=3:0.3; got {item!r}")
        eas.setdefault(name, []).append(config)
    unknown = set(args.systems.split(",")) - set(SYSTEMS)
    if unknown:
        parser.error(
            f"unknown system(s) {', '.join(sorted(unknown))}; choose from {', '.join(SYSTEMS)}"
        )
    rows = []
    for name in args.models.split(","):
        for batch in (int(b) for b in args.batch_sizes.split(",")):
            systems = []
            for system in args.systems.split(","):
                if batch > 1 and system not in BATCHED:
                    continue
                systems += (
                    [f"{system}@{c}" for c in eas.get(name, [])]
                    if system.endswith("EAS")
                    else [system]
                )
            rows += compare(systems, name, batch, args)
    for row in rows:
        if "rtf" not in row:
            continue
        same = {
            r["system"].split(" ")[0]: r
            for r in rows
            if r["model"] == row["model"] and r["batch"] == row["batch"] and "rtf" in r
        }
        for reference in REFERENCES:
            if reference in same:
                row[f"speedup_vs_{reference}"] = same[reference]["rtf"] / row["rtf"]
    result = {
        **run_header(torch.get_num_threads(), args.device),
        "python": platform.python_version(),
        "versions": versions(),
        "data": args.data,
        "subset": args.subset,
        "limit": args.limit,
        "dtype": "float32 unless the system names int8 / bf16",
        "normalizer": "whisper_normalizer.english.EnglishTextNormalizer",
        "rows": rows,
    }
    text = markdown(result)
    print(text)
    if args.output:
        write_results(args.output, result, text)


def markdown(result: dict) -> str:
    from whisper_eas.research.bench import title

    v = result["versions"]
    lines = [
        title(f"whisper-eas and its peers, {result['dtype']}", result),
        "",
        f"First {result['limit']} utterances of `{Path(result['subset']).name}` (dev-clean); "
        f"greedy, no timestamps, English. WER after `{result['normalizer']}`. RTF = time / "
        "audio duration (lower is faster); speed-up = the reference's RTF / this RTF, at the "
        "same batch size.",
        "",
        f"Versions: torch {v['torch']}, transformers {v['transformers']}, faster-whisper "
        f"{v['faster-whisper']} (ctranslate2 {v['ctranslate2']}), openai-whisper "
        f"{v['openai-whisper']}.",
        "",
        "| model | batch | system | RTF | × transformers SDPA | × faster-whisper fp32 | "
        "× faster-whisper int8 | × whisper-eas (EAS off) | WER % | tokens/utt | "
        "peak memory MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        if "rtf" not in r:
            lines.append(
                f"| {r['model']} | {r['batch']} | {r['system']} | failed: {r['error']} "
                "| | | | | | | |"
            )
            continue
        speedups = " | ".join(
            f"{r[f'speedup_vs_{ref}']:.2f}×" if f"speedup_vs_{ref}" in r else ""
            for ref in REFERENCES
        )
        lines.append(
            f"| {r['model']} | {r['batch']} | {r['system']} | {r['rtf']:.4f} | {speedups} | "
            f"{100 * r['wer']:.2f} | {r['tokens_per_utterance']:.1f} | "
            f"{r['peak_memory_mib']:.0f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
