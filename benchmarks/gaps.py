"""Invented words in long non-speech stretches: recordings with gaps (silence, white and pink
noise, mains hum, synthetic music; `benchmarks/build_long_audio.py` writes `data/gaps`), ours
against faster-whisper and transformers on the same weights.

A word counts as invented when its middle lies inside a gap, 0.5 s in from each edge (word
timings are not exact at a gap's edge). transformers' sequential long-form gives segments, not
words: its words are placed at their segment's middle, and the same segment-level count is
given for every system. Greedy, English, each system's long-form defaults, word timestamps on
for ours and faster-whisper. Each system runs in its own process, and the systems take turns
recording by recording, the first rotating.

    python benchmarks/gaps.py --models tiny.en,base --limit 8 --output benchmarks/results/gaps_cpu

`--systems` also takes "ours --skip-silence S", "ours --max-parts N" and "ours --batch-size
N" (1: each recording decoded whole, openai-whisper's sequential algorithm), and "ours on fw
regions" (and "ours on fw regions --batch-size 1"): ours decoding the audio that
faster-whisper's `vad_filter` decodes, its own VAD's speech regions joined, times mapped back
to the file. Beside "faster-whisper vad_filter" it separates what the regions do from what
our decoding does. "faster-whisper batched" is its `BatchedInferencePipeline` (batch 8), the
system our one-file rows answer.
"""

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from whisper_eas import EASConfig, VADBudget, load_model, transcribe
from whisper_eas.research.bench import (
    PICKS,
    cpu_flags,
    manifest_records,
    run_header,
    title,
    write_results,
)
from whisper_eas.research.metrics import word_error_rate

sys.path.insert(0, str(Path(__file__).parent))
from peers import Worker, serve_recordings, versions  # noqa: E402

TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
EDGE = 0.5  # seconds in from each gap edge
# systems "ours FLAG VALUE": the transcribe option each flag sets, and its type
NUMBERED_OPTIONS = {
    "--skip-silence": ("skip_silence", float),
    "--batch-size": ("batch_size", int),
    "--max-parts": ("max_parts", int),
}


def ours(name: str, **options):
    model = load_model(name)

    def run(wave):
        result = transcribe(model, wave, word_timestamps=True, **options)
        words = [(w.start, w.end, w.word) for s in result.segments for w in s.words]
        segments = [(s.start, s.end, s.text) for s in result.segments]
        return result.text, words, segments, result.fallbacks

    return run


def ours_on_fw_regions(name: str, **options):
    """Ours on the audio faster-whisper's `vad_filter` decodes: its VAD's speech regions (its
    default VadOptions), joined, every time mapped back to the file."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    from whisper_eas.vad import SpeechMap

    model = load_model(name)

    def run(wave):
        regions = [(c["start"], c["end"]) for c in get_speech_timestamps(wave, VadOptions())]
        speech = SpeechMap(regions)
        result = transcribe(model, speech.join(wave), word_timestamps=True, **options)
        words = [
            (*speech.original(w.start, w.end, word=True), w.word)
            for s in result.segments
            for w in s.words
        ]
        segments = [(*speech.original(s.start, s.end), s.text) for s in result.segments]
        return result.text, words, segments, result.fallbacks

    return run


def faster_whisper(name: str, vad_filter: bool, batched: bool = False):
    """faster-whisper's sequential `transcribe`, or with `batched` its `BatchedInferencePipeline`
    (batch 8, its defaults: VAD chunks of up to 30 s decoded side by side without previous
    text, timestamp tokens or fallback; words timed all the same). `vad_filter` is the
    sequential mode's; the pipeline always cuts at its own VAD's speech."""
    from faster_whisper import BatchedInferencePipeline, WhisperModel

    from whisper_eas.research.bench import ct2_folder

    model = WhisperModel(str(ct2_folder(name)), device="cpu", compute_type="float32",
                         cpu_threads=torch.get_num_threads())  # fmt: skip
    pipeline = BatchedInferencePipeline(model) if batched else None

    def run(wave):
        if batched:
            segments, _ = pipeline.transcribe(wave, language="en", beam_size=1, best_of=1,
                                              batch_size=8, word_timestamps=True)  # fmt: skip
        else:
            segments, _ = model.transcribe(wave, language="en", beam_size=1, best_of=1,
                                           temperature=list(TEMPERATURES), vad_filter=vad_filter,
                                           word_timestamps=True)  # fmt: skip
        segments = list(segments)
        words = [(w.start, w.end, w.word) for s in segments for w in s.words or []]
        text = " ".join(s.text.strip() for s in segments)
        return text, words, [(s.start, s.end, s.text) for s in segments], {}

    return run


def transformers_longform(name: str):
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    from whisper_eas.hub import resolve

    folder = resolve(name)
    model = WhisperForConditionalGeneration.from_pretrained(folder).eval()
    processor = WhisperProcessor.from_pretrained(folder)
    language = {} if name.endswith(".en") else {"language": "en", "task": "transcribe"}

    def run(wave):
        inputs = processor(wave, sampling_rate=16000, return_tensors="pt", truncation=False,
                           padding="longest", return_attention_mask=True)  # fmt: skip
        with torch.inference_mode():
            out = model.generate(
                inputs.input_features, attention_mask=inputs.attention_mask,
                return_timestamps=True, condition_on_prev_tokens=True, temperature=TEMPERATURES,
                num_beams=1, compression_ratio_threshold=1.35, logprob_threshold=-1.0,
                no_speech_threshold=0.6, return_segments=True, **language,
            )  # fmt: skip
        segments = [
            (float(s["start"]), float(s["end"]),
             processor.decode(s["tokens"], skip_special_tokens=True).strip())
            for s in out["segments"][0]
        ]  # fmt: skip
        text = " ".join(t for _, _, t in segments if t)
        return text, None, segments, {}

    return run


def inside(time: float, gaps: list) -> str | None:
    """The kind of gap `time` lies in (EDGE seconds in from its edges), or None."""
    for kind, start, end in gaps:
        if start + EDGE < time < end - EDGE:
            return kind
    return None


def words_in_gaps(result, gaps: list) -> int:
    """How many of a Transcription's timed words lie inside a gap (by their middle)."""
    return sum(inside((w.start + w.end) / 2, gaps) is not None
               for s in result.segments for w in s.words)  # fmt: skip


def invented(words, segments, gaps) -> tuple[dict, dict]:
    """Words inside gaps by gap kind: word-level (None where a system gives no words) and
    segment-level (each segment's words at its middle)."""
    by_word = None
    if words is not None:
        by_word = {}
        for start, end, _ in words:
            if kind := inside((start + end) / 2, gaps):
                by_word[kind] = by_word.get(kind, 0) + 1
    by_segment = {}
    for start, end, text in segments:
        if (kind := inside((start + end) / 2, gaps)) and text.split():
            by_segment[kind] = by_segment.get(kind, 0) + len(text.split())
    return by_word, by_segment


def makers(name: str) -> dict:
    """The named systems: each a function that loads it and returns its run(waveform) -> (text,
    words or None, segments, fallbacks)."""
    eas = EASConfig.recommended(name)
    return {
        "ours": lambda: ours(name),
        "ours --vad": lambda: ours(name, vad_filter=True),
        "ours --hallucination-silence-threshold 2": lambda: ours(
            name, hallucination_silence_threshold=2.0
        ),
        "ours --eas": lambda: ours(name, eas=eas),
        "ours --vad --eas": lambda: ours(name, eas=eas, vad_filter=True),
        "ours --eas vad": lambda: ours(name, eas=replace(eas, rule=VADBudget())),
        "ours on fw regions": lambda: ours_on_fw_regions(name),
        "ours on fw regions --batch-size 1": lambda: ours_on_fw_regions(name, batch_size=1),
        "faster-whisper": lambda: faster_whisper(name, False),
        "faster-whisper vad_filter": lambda: faster_whisper(name, True),
        "faster-whisper batched": lambda: faster_whisper(name, False, batched=True),
        "transformers": lambda: transformers_longform(name),
    }


def make_runner(system: str, name: str):
    named = makers(name)
    return named[system]() if system in named else ours(name, **numbered_option(system))


def numbered_option(system: str) -> dict:
    """The transcribe option of a system "ours --skip-silence S" or "ours --batch-size N";
    raises ValueError for any other system."""
    flag, _, value = system.removeprefix("ours ").rpartition(" ")
    if not system.startswith("ours ") or flag not in NUMBERED_OPTIONS:
        raise ValueError(f"unknown system {system!r}")
    option, kind = NUMBERED_OPTIONS[flag]
    try:
        return {option: kind(value)}
    except ValueError:
        raise ValueError(f"{system!r}: {flag} takes a {kind.__name__}, got {value!r}") from None


def worker(args) -> None:
    """One system in its own process: load, warm up, then transcribe the recordings the parent
    names on stdin, one at a time, each alone. In one process, one library's OpenMP threads
    still spinning after its call slowed the next library's call (faster-whisper's batched
    pipeline with word timing measured 1.24x our speed in one process, 0.99x apart)."""
    torch.set_num_threads(args.threads)
    chosen = manifest_records(args.data, args.limit, args.pick)
    run = make_runner(args.system, args.model_name)
    fields = ("text", "words", "segments", "fallbacks")
    serve_recordings(run, args.data, chosen, lambda out: dict(zip(fields, out)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/gaps")
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--limit", type=int, default=8, help="recordings, as --pick chooses")
    parser.add_argument(
        "--pick", choices=PICKS, default="alternate",
        help="which recordings --limit takes: tune and heldout in turn, or the manifest's first",
    )  # fmt: skip
    parser.add_argument(
        "--systems",
        default="ours,ours --vad,ours --hallucination-silence-threshold 2,ours --eas,"
        "ours --eas vad,faster-whisper,faster-whisper vad_filter,transformers",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default="benchmarks/results/gaps_cpu")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--system", help=argparse.SUPPRESS)
    parser.add_argument("--model-name", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    chosen = manifest_records(args.data, args.limit, args.pick)
    seconds = sum(r["duration_s"] for r in chosen)
    gap_seconds = sum(end - start for r in chosen for _, start, end in r["gaps"])
    systems = args.systems.split(",")
    known = makers(args.models.split(",")[0])
    for system in (s for s in systems if s not in known):
        try:
            numbered_option(system)
        except ValueError as error:
            parser.error(f"{error}; known: {sorted(known)}")
    result = {
        **run_header(args.threads, cpu_flags=cpu_flags()), "versions": versions(),
        "recordings": [r["id"] for r in chosen], "gaps": [r["gaps"] for r in chosen],
        "audio_seconds": seconds, "gap_seconds": gap_seconds, "models": {},
    }  # fmt: skip
    for name in args.models.split(","):
        workers = {}
        for system in systems:  # loaded and warmed up one at a time
            command = [sys.executable, __file__, "--worker", "--system", system, "--model-name",
                       name, "--data", args.data, "--limit", str(args.limit), "--pick",
                       args.pick, "--threads", str(args.threads)]  # fmt: skip
            workers[system] = Worker(command)
            workers[system].receive()
        rows = {s: {"texts": [], "seconds": 0.0, "word": {}, "segment": {}, "fallbacks": {},
                    "invented": []} for s in systems}  # fmt: skip
        for i, record in enumerate(chosen):
            order = systems[i % len(systems) :] + systems[: i % len(systems)]
            texts = {}
            for system in order:
                time.sleep(0.5)  # the last worker's OpenMP threads stop spinning
                workers[system].send(str(i))
                answer = workers[system].receive()
                words, segments, fired = answer["words"], answer["segments"], answer["fallbacks"]
                row = rows[system]
                row["seconds"] += answer["seconds"]
                texts[system] = answer["text"]
                by_word, by_segment = invented(words, segments, record["gaps"])
                if by_word is None:
                    row["word"] = None
                else:
                    for kind, n in by_word.items():
                        row["word"][kind] = row["word"].get(kind, 0) + n
                for kind, n in by_segment.items():
                    row["segment"][kind] = row["segment"].get(kind, 0) + n
                for key, count in fired.items():
                    row["fallbacks"][key] = row["fallbacks"].get(key, 0) + count
                if words is not None:
                    row["invented"] += [
                        (record["id"], round(s, 2), w) for s, e, w in words
                        if inside((s + e) / 2, record["gaps"])
                    ]  # fmt: skip
            for system in systems:
                rows[system]["texts"].append(texts[system])
            print(f"{name} {record['id']}: " + ", ".join(
                f"{s} {'-' if rows[s]['word'] is None else sum(rows[s]['word'].values())}"
                for s in systems
            ), file=sys.stderr, flush=True)  # fmt: skip
        refs = [r["text"] for r in chosen]
        for row in rows.values():
            row["wer"] = word_error_rate(refs, row["texts"])
            row["rtf"] = row["seconds"] / seconds
        result["models"][name] = rows
        for handle in workers.values():
            handle.send("done")
            handle.process.wait()

    lengths = [end - start for r in chosen for _, start, end in r["gaps"]]
    lines = [
        title("Invented words in non-speech gaps", result),
        "",
        f"{len(chosen)} recordings from `{args.data}` ({seconds / 60:.1f} min, of which "
        f"{gap_seconds / 60:.1f} min in {len(lengths)} gaps of "
        f"{min(lengths, default=0):.0f}-{max(lengths, default=0):.0f} s: "
        f"{', '.join(dict.fromkeys(g[0] for r in chosen for g in r['gaps']))}). "
        "Words inside gaps: middle of the word "
        f"more than {EDGE} s inside a gap; segment-level: a segment's words placed at its "
        "middle (transformers gives no words). Greedy, float32.",
        "",
        "| model | system | words in gaps | by kind | segment-level | WER % | RTF | × ours "
        "| fallbacks |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, rows in result["models"].items():
        for system, row in rows.items():
            word = "–" if row["word"] is None else str(sum(row["word"].values()))
            kinds = "" if not row["word"] else ", ".join(f"{k} {n}" for k, n in row["word"].items())
            ratio = f"{rows['ours']['seconds'] / row['seconds']:.2f}×" if "ours" in rows else "–"
            lines.append(
                f"| {name} | {system} | {word} | {kinds} | {sum(row['segment'].values())} | "
                f"{100 * row['wer']:.2f} | {row['rtf']:.4f} | {ratio} | {row['fallbacks'] or ''} |"
            )
    write_results(args.output, result, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
