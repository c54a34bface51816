"""Short clips, ours against faster-whisper, WER only (nothing timed): random dev-clean
utterances (3-35 s), each transcribed once by each system with its defaults as a user calls
it (ours: `transcribe(model, audio)`; faster-whisper: `WhisperModel.transcribe(audio,
language="en", beam_size=1)`, greedy like ours, its other defaults kept), same weights, float32.
Both read the same samples (ours are faster-whisper's `decode_audio`'s to the bit). Reports the
WER of each, and on how many clips each is the better one.

    python benchmarks/short_clips_wer.py --models tiny.en,base --limit 400 --seed 7 \\
        --output benchmarks/results/short_clips_wer_cpu
"""

import argparse
import json
import random
from pathlib import Path

import torch
from longform import faster_whisper

from whisper_eas import load_audio, load_model, transcribe
from whisper_eas.research.bench import run_header, title, write_results
from whisper_eas.research.metrics import word_error_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/librispeech-dev-clean")
    parser.add_argument("--models", default="tiny.en,base")
    parser.add_argument("--limit", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = Path(args.data)
    clips = [json.loads(line) for line in (data / "manifest.jsonl").open()]
    random.Random(args.seed).shuffle(clips)
    clips = clips[: args.limit]
    header = run_header(args.threads, clips=len(clips), seed=args.seed, data=str(data))
    rows = []
    for name in args.models.split(","):
        # faster-whisper's sequential `transcribe` as longform.py runs it: its defaults (the
        # temperatures, best_of), greedy, English, as many threads as ours
        ours, theirs = load_model(name), faster_whisper(name)
        texts, hypotheses = [clip["text"] for clip in clips], {"ours": [], "faster-whisper": []}
        for k, clip in enumerate(clips):
            audio = load_audio(data / clip["audio"])
            hypotheses["ours"].append(transcribe(ours, audio).text.strip())
            hypotheses["faster-whisper"].append(theirs(audio)[0])
            print(f"{name} {k + 1}/{len(clips)}", flush=True)
        per_clip = {
            system: [word_error_rate([t], [h]) for t, h in zip(texts, found)]
            for system, found in hypotheses.items()
        }
        pairs = list(zip(per_clip["ours"], per_clip["faster-whisper"]))
        rows.append({
            "model": name,
            "wer_ours": 100 * word_error_rate(texts, hypotheses["ours"]),
            "wer_faster_whisper": 100 * word_error_rate(texts, hypotheses["faster-whisper"]),
            "ours_better": sum(a < b for a, b in pairs),
            "faster_whisper_better": sum(a > b for a, b in pairs),
            "same_text": sum(a == b for a, b in zip(*hypotheses.values())),
            "texts": [
                {"id": clip["id"], "reference": t, "ours": a, "faster-whisper": b}
                for clip, t, a, b in zip(clips, texts, *hypotheses.values())
                if a != b
            ],
        })  # fmt: skip
    seconds = sum(clip["duration_s"] for clip in clips)
    lines = [
        title("Short clips: WER against faster-whisper", header),
        "",
        f"{len(clips)} random utterances of `{data.name}` (seed {args.seed}, {seconds / 60:.1f}"
        " min), each transcribed with each system's defaults, greedy (faster-whisper"
        " `beam_size=1`), float32, the same weights and samples. Nothing is timed.",
        "",
        "| model | WER % ours | WER % faster-whisper | clips ours better | clips fw better"
        " | the same text |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['model']} | {row['wer_ours']:.2f} | {row['wer_faster_whisper']:.2f} | "
            f"{row['ours_better']} | {row['faster_whisper_better']} | {row['same_text']} |"
        )
    write_results(args.output, {**header, "rows": rows}, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
