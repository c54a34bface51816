"""Long-form transcription side by side: whisper-eas (EAS off and the recommended EAS) against
faster-whisper's and transformers' sequential long-form, on multi-minute recordings built from
dev-clean (`benchmarks/build_long_audio.py`).

Same weights (the bundled OpenAI checkpoints), greedy (beam 1; sampled fallbacks draw
best_of = 5 on both sides, the default of each, since whisper-eas 0.4.0; one before), English,
fp32 (the `-int8`
systems: our int8 and CTranslate2's int8, also available), each system
with its own long-form defaults: timestamps, conditioning on the previous text, temperature
fallback (0.0, 0.2, ..., 1.0), compression-ratio and log-prob thresholds, no-speech skip.
(transformers' compression ratio is computed on tokens, so its threshold is 1.35, the value
its documentation gives for that measure.) WER after Whisper's English normaliser on both
sides, corpus level. Systems take turns recording by recording, the first rotating, so the
shared machine's drift reaches all alike; RTF ratios come from the same run.

    python benchmarks/build_long_audio.py
    python benchmarks/longform.py --models tiny.en,base --limit 6 \
        --output benchmarks/results/longform_cpu

One recording at a time, as a user with one lecture runs it: our default cuts it at pauses
into parts decoded side by side (`ours`, `ours-int8`); `ours-b1` is `--batch-size 1`, the
strictly sequential algorithm; faster-whisper sequential, with `vad_filter`, and its
`BatchedInferencePipeline` (batch 8):

    python benchmarks/longform.py --models tiny.en,base --limit 12 \
        --systems ours,ours-b1,ours-int8,ours-int8-b1,faster-whisper,faster-whisper-int8,\
faster-whisper-batched,faster-whisper-batched-int8 --output benchmarks/results/longform_parts_cpu
"""

import argparse
import resource
import sys
import time
from pathlib import Path

import torch

from whisper_eas import EASConfig, load_model, transcribe
from whisper_eas.research.bench import manifest_records, run_header, title, write_results
from whisper_eas.research.metrics import word_error_rate

sys.path.insert(0, str(Path(__file__).parent))
from peers import Worker, emit, serve_recordings, versions  # noqa: E402

TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def ours(
    name: str,
    eas: EASConfig | None,
    dtype: str = "float32",
    vad_filter: bool = False,
    beam_size: int | None = None,
    batch_size: int = 8,
    timestamps: bool = True,
    word_timestamps: bool = False,
    screened: bool = True,
):
    """Our `transcribe` on one recording: by default cut at pauses into parts decoded side by
    side (batch_size 8); batch_size 1 decodes it whole, strictly sequentially. `timestamps`
    False: each part decoded without timestamp tokens (what faster-whisper's batched pipeline
    does; fallback kept). `word_timestamps`: each word timed as well. `screened` False: greedy
    steps multiply the whole float32 output projection (no bf16 or int8 screen)."""
    model = load_model(name, dtype=dtype)
    model.network.decoder.screened_logits = screened

    def run(wave):
        result = transcribe(model, wave, eas=eas, vad_filter=vad_filter, beam_size=beam_size,
                            batch_size=batch_size, timestamps=timestamps,
                            word_timestamps=word_timestamps)  # fmt: skip
        fired = {**result.fallbacks, **({"parts": result.parts} if result.parts > 1 else {})}
        return result.text, fired, result.segments

    return run


def faster_whisper(
    name: str,
    compute_type: str = "float32",
    beam_size: int = 1,
    vad_filter: bool = False,
    batched: bool = False,
    word_timestamps: bool = False,
):
    """faster-whisper's sequential `transcribe` (with `vad_filter` if asked), or its
    `BatchedInferencePipeline` (batch 8, its defaults: VAD chunks of up to 30 s, no timestamps,
    no fallback, no previous text) with the same beam size; `word_timestamps` as ours."""
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    from whisper_eas.research.bench import ct2_folder

    model = WhisperModel(
        str(ct2_folder(name)),
        device="cpu",
        compute_type=compute_type,
        cpu_threads=torch.get_num_threads(),
    )

    pipeline = BatchedInferencePipeline(model)

    def run(wave):
        if batched:
            segments, _ = pipeline.transcribe(
                wave,
                language="en",
                beam_size=beam_size,
                best_of=1,
                batch_size=8,
                word_timestamps=word_timestamps,
            )
        else:
            segments, _ = model.transcribe(
                wave,
                language="en",
                beam_size=beam_size,
                best_of=5,  # its default, and ours
                temperature=list(TEMPERATURES),
                vad_filter=vad_filter,
                word_timestamps=word_timestamps,
            )
        segments = list(segments)
        return " ".join(s.text.strip() for s in segments), {}, segments

    return run


def transformers_longform(name: str):
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    from whisper_eas.hub import resolve

    folder = resolve(name)
    model = WhisperForConditionalGeneration.from_pretrained(
        folder, attn_implementation="sdpa"
    ).eval()
    processor = WhisperProcessor.from_pretrained(folder)
    language = {} if name.endswith(".en") else {"language": "en", "task": "transcribe"}

    def run(wave):
        inputs = processor(
            wave,
            sampling_rate=16000,
            return_tensors="pt",
            truncation=False,
            padding="longest",
            return_attention_mask=True,
        )
        if inputs.input_features.shape[-1] < 3000:  # short input: pad to one window
            inputs = processor(
                wave, sampling_rate=16000, return_tensors="pt", return_attention_mask=True
            )
        with torch.inference_mode():
            ids = model.generate(
                inputs.input_features,
                attention_mask=inputs.attention_mask,
                return_timestamps=True,
                condition_on_prev_tokens=True,
                temperature=TEMPERATURES,
                num_beams=1,
                compression_ratio_threshold=1.35,
                logprob_threshold=-1.0,
                no_speech_threshold=0.6,
                **language,
            )
        return processor.batch_decode(ids, skip_special_tokens=True)[0].strip(), {}, []

    return run


def make_runner(system: str, name: str):
    makers = {
        "ours": lambda: ours(name, None),
        "ours-b1": lambda: ours(name, None, batch_size=1),
        "ours-unscreened": lambda: ours(name, None, screened=False),
        "ours-b1-unscreened": lambda: ours(name, None, batch_size=1, screened=False),
        "ours-eas": lambda: ours(name, EASConfig.recommended(name)),
        "ours-vad": lambda: ours(name, None, vad_filter=True),
        "ours-beam5": lambda: ours(name, None, beam_size=5),
        "ours-beam5-b1": lambda: ours(name, None, beam_size=5, batch_size=1),
        "ours-int8-beam5": lambda: ours(name, None, "int8", beam_size=5),
        "ours-int8": lambda: ours(name, None, "int8"),
        "ours-int8-b1": lambda: ours(name, None, "int8", batch_size=1),
        "ours-int8-eas": lambda: ours(name, EASConfig.recommended(name), "int8"),
        "ours-words": lambda: ours(name, None, word_timestamps=True),
        "ours-int8-words": lambda: ours(name, None, "int8", word_timestamps=True),
        "ours-no-timestamps": lambda: ours(name, None, timestamps=False),
        "ours-int8-no-timestamps": lambda: ours(name, None, "int8", timestamps=False),
        "faster-whisper": lambda: faster_whisper(name),
        "faster-whisper-int8": lambda: faster_whisper(name, "int8"),
        "faster-whisper-vad": lambda: faster_whisper(name, vad_filter=True),
        "faster-whisper-beam5": lambda: faster_whisper(name, beam_size=5),
        "faster-whisper-int8-beam5": lambda: faster_whisper(name, "int8", beam_size=5),
        "faster-whisper-batched": lambda: faster_whisper(name, batched=True),
        "faster-whisper-batched-int8": lambda: faster_whisper(name, "int8", batched=True),
        "faster-whisper-words": lambda: faster_whisper(name, word_timestamps=True),
        "faster-whisper-batched-words": lambda: faster_whisper(
            name, batched=True, word_timestamps=True
        ),
        "transformers": lambda: transformers_longform(name),
    }
    if system not in makers:
        raise SystemExit(f"unknown system {system!r}; choose from {', '.join(makers)}")
    return makers[system]()


def worker(args) -> None:
    """One system in its own process: load, warm up, then transcribe the recordings the parent
    names on stdin, one at a time, each alone."""
    torch.set_num_threads(args.threads)
    chosen = manifest_records(args.data, args.limit, "alternate")
    run = make_runner(args.system, args.model_name)
    serve_recordings(run, args.data, chosen, lambda out: {"text": out[0], "fallbacks": out[1]})
    emit({"peak_memory_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/long", help="folder with manifest.jsonl")
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument(
        "--limit", type=int, default=6, help="recordings (tune and heldout alternate)"
    )
    parser.add_argument("--systems", default="ours,ours-eas,faster-whisper,transformers")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="benchmarks/results/longform_cpu")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--system", help=argparse.SUPPRESS)
    parser.add_argument("--model-name", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    chosen = manifest_records(args.data, args.limit, "alternate")
    seconds = sum(r["duration_s"] for r in chosen)
    systems = args.systems.split(",")

    result = {
        **run_header(args.threads),
        "versions": versions(),
        "recordings": [r["id"] for r in chosen],
        "groups": [r["group"] for r in chosen],
        "audio_seconds": seconds,
        "models": {},
    }
    for name in args.models.split(","):
        workers = {}
        for system in systems:  # loaded and warmed up one at a time
            command = [sys.executable, __file__, "--worker", "--system", system, "--model-name",
                       name, "--data", args.data, "--limit", str(args.limit), "--threads",
                       str(args.threads)]  # fmt: skip
            workers[system] = Worker(command)
            workers[system].receive()
        texts = {s: [None] * len(chosen) for s in systems}
        times = {s: 0.0 for s in systems}
        fallbacks = {s: {} for s in systems}
        for i, record in enumerate(chosen):
            order = systems[i % len(systems) :] + systems[: i % len(systems)]
            for system in order:
                time.sleep(0.5)  # the last worker's OpenMP threads stop spinning
                workers[system].send(str(i))
                answer = workers[system].receive()
                times[system] += answer["seconds"]
                texts[system][i] = answer["text"]
                for key, count in answer["fallbacks"].items():
                    fallbacks[system][key] = fallbacks[system].get(key, 0) + count
            print(
                f"{name} {record['id']}: "
                + ", ".join(
                    f"{s} {100 * word_error_rate([record['text']], [texts[s][i]]):.1f}%"
                    for s in systems
                ),
                file=sys.stderr,
                flush=True,
            )
        peaks = {}
        for system, handle in workers.items():
            handle.send("done")
            peaks[system] = handle.receive()["peak_memory_bytes"]
            handle.process.wait()
        refs = [r["text"] for r in chosen]
        table = {}
        for system in systems:
            group_wer = {
                g: word_error_rate(
                    [r["text"] for r in chosen if r["group"] == g],
                    [t for t, r in zip(texts[system], chosen) if r["group"] == g],
                )
                for g in ("tune", "heldout")
                if g in result["groups"]
            }
            table[system] = {
                "wer": word_error_rate(refs, texts[system]),
                "rtf": times[system] / seconds,
                "wer_by_group": group_wer,
                "fallbacks": fallbacks[system],
                "peak_memory_bytes": peaks[system],
                "hypotheses": texts[system],
            }
        result["models"][name] = table

    lines = [
        title("Long-form WER and speed", result),
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in result["versions"].items()) + ". "
        "Each system in its own process; each recording transcribed alone, the systems taking "
        "turns recording by recording. Peak RSS: the worker's, over all its recordings.",
        "",
        f"{len(chosen)} recordings ({seconds / 60:.1f} min) from `{args.data}`: "
        + ", ".join(f"{r['id']} ({r['group']}, {r['duration_s']:.0f} s)" for r in chosen),
        "",
        "| model | system | WER % | WER tune / heldout % | RTF | × faster-whisper "
        "| × faster-whisper int8 | × fw batched | × fw batched int8 | peak RSS GB "
        "| fallbacks, parts |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, table in result["models"].items():
        references = [
            table.get(s, {}).get("rtf")
            for s in (
                "faster-whisper",
                "faster-whisper-int8",
                "faster-whisper-batched",
                "faster-whisper-batched-int8",
            )
        ]
        for system, row in table.items():
            ratios = [f"{r / row['rtf']:.2f}×" if r else "" for r in references]
            lines.append(
                f"| {name} | {system} | {100 * row['wer']:.2f} | "
                f"{' / '.join(f'{100 * w:.2f}' for w in row['wer_by_group'].values())} | "
                f"{row['rtf']:.4f} | {' | '.join(ratios)} | "
                f"{row['peak_memory_bytes'] / 2**30:.2f} | {row['fallbacks'] or ''} |"
            )
    write_results(args.output, result, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
