"""Long-form transcription side by side: whisper-eas (EAS off and the recommended EAS) against
faster-whisper's and transformers' sequential long-form, on multi-minute recordings built from
dev-clean (`benchmarks/build_long_audio.py`).

Same weights (the bundled OpenAI checkpoints), greedy (beam 1), English, fp32 (the `-int8`
systems: our int8 and CTranslate2's int8, also available), each system
with its own long-form defaults: timestamps, conditioning on the previous text, temperature
fallback (0.0, 0.2, ..., 1.0), compression-ratio and log-prob thresholds, no-speech skip.
(transformers' compression ratio is computed on tokens, so its threshold is 1.35, the value
its documentation gives for that measure.) WER after Whisper's English normaliser on both
sides, corpus level. Systems take turns recording by recording, the first rotating, so the
shared machine's drift reaches all alike; RTF ratios come from the same run.

    python benchmarks/build_long_audio.py
    python benchmarks/longform.py --models tiny.en,base --limit 6 --output benchmarks/results/longform_cpu
"""

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import torch

from whisper_eas import EASConfig, load_audio, load_model, transcribe
from whisper_eas.research.bench import device_name, git_commit, write_results
from whisper_eas.research.metrics import word_error_rate

TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def ours(
    name: str,
    eas: EASConfig | None,
    dtype: str = "float32",
    vad_filter: bool = False,
    beam_size: int | None = None,
):
    model = load_model(name, dtype=dtype)

    def run(wave):
        result = transcribe(model, wave, eas=eas, vad_filter=vad_filter, beam_size=beam_size)
        return result.text, result.fallbacks, result.segments

    return run


def faster_whisper(name: str, compute_type: str = "float32", beam_size: int = 1):
    from faster_whisper import WhisperModel

    sys.path.insert(0, str(Path(__file__).parent))
    from whisper_eas.research.bench import ct2_folder

    model = WhisperModel(
        str(ct2_folder(name)),
        device="cpu",
        compute_type=compute_type,
        cpu_threads=torch.get_num_threads(),
    )

    def run(wave):
        segments, _ = model.transcribe(
            wave,
            language="en",
            beam_size=beam_size,
            best_of=1,
            temperature=list(TEMPERATURES),
            vad_filter=False,
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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    records = [
        json.loads(line) for line in (Path(args.data) / "manifest.jsonl").read_text().splitlines()
    ]
    tune = [r for r in records if r["group"] == "tune"]
    heldout = [r for r in records if r["group"] == "heldout"]
    chosen = [r for pair in zip(tune, heldout) for r in pair][: args.limit]
    waves = [load_audio(Path(args.data) / r["audio"]) for r in chosen]
    seconds = sum(len(w) for w in waves) / 16000
    systems = args.systems.split(",")

    result = {
        "date": datetime.date.today().isoformat(),
        "commit": git_commit(),
        "device": device_name("cpu"),
        "threads": args.threads,
        "torch": torch.__version__,
        "recordings": [r["id"] for r in chosen],
        "groups": [r["group"] for r in chosen],
        "audio_seconds": seconds,
        "models": {},
    }
    for name in args.models.split(","):
        makers = {
            "ours": lambda: ours(name, None),
            "ours-eas": lambda: ours(name, EASConfig.recommended(name)),
            "ours-vad": lambda: ours(name, None, vad_filter=True),
            "ours-beam5": lambda: ours(name, None, beam_size=5),
            "faster-whisper-beam5": lambda: faster_whisper(name, beam_size=5),
            "faster-whisper": lambda: faster_whisper(name),
            "ours-int8": lambda: ours(name, None, "int8"),
            "ours-int8-eas": lambda: ours(name, EASConfig.recommended(name), "int8"),
            "faster-whisper-int8": lambda: faster_whisper(name, "int8"),
            "transformers": lambda: transformers_longform(name),
        }
        runners = {system: makers[system]() for system in systems}
        for runner in runners.values():
            runner(waves[0][: 16000 * 20])  # warm-up
        texts = {s: [None] * len(waves) for s in systems}
        times = {s: 0.0 for s in systems}
        fallbacks = {s: {} for s in systems}
        for i, wave in enumerate(waves):
            order = systems[i % len(systems) :] + systems[: i % len(systems)]
            for system in order:
                start = time.perf_counter()
                text, fired, _ = runners[system](wave)
                times[system] += time.perf_counter() - start
                texts[system][i] = text
                for key, count in fired.items():
                    fallbacks[system][key] = fallbacks[system].get(key, 0) + count
            print(
                f"{name} {chosen[i]['id']}: "
                + ", ".join(
                    f"{s} {100 * word_error_rate([chosen[i]['text']], [texts[s][i]]):.1f}%"
                    for s in systems
                ),
                file=sys.stderr,
                flush=True,
            )
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
                "hypotheses": texts[system],
            }
        result["models"][name] = table
        del runners

    lines = [
        f"# Long-form WER and speed ({result['date']}, commit {result['commit']}, {result['device']}, "
        f"{args.threads} threads, torch {result['torch']})",
        "",
        f"{len(chosen)} recordings ({seconds / 60:.1f} min) from `{args.data}`: "
        + ", ".join(f"{r['id']} ({r['group']}, {r['duration_s']:.0f} s)" for r in chosen),
        "",
        "| model | system | WER % | WER tune / heldout % | RTF | × faster-whisper "
        "| × faster-whisper int8 | fallbacks |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, table in result["models"].items():
        references = [
            table.get(s, {}).get("rtf") for s in ("faster-whisper", "faster-whisper-int8")
        ]
        for system, row in table.items():
            ratios = [f"{r / row['rtf']:.2f}×" if r else "" for r in references]
            lines.append(
                f"| {name} | {system} | {100 * row['wer']:.2f} | "
                f"{' / '.join(f'{100 * w:.2f}' for w in row['wer_by_group'].values())} | "
                f"{row['rtf']:.4f} | {' | '.join(ratios)} | {row['fallbacks'] or ''} |"
            )
    write_results(args.output, result, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
