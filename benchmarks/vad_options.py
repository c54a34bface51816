"""`vad_filter`'s VAD parameters against WER: the minimum silence that cuts and the padding
kept around speech, on recordings with gaps and on gap-free long recordings of one split.

Run with silero-vad 6.2's weights (results of 2026-11), which give higher probabilities in
pauses than faster-whisper's; since 2026-12-01 ours are faster-whisper's (`whisper_eas/vad.py`).

    python benchmarks/vad_options.py --model tiny.en --split tune --options 2000:400,1000:400
"""

import argparse
import json
import sys
from pathlib import Path

import torch

from whisper_eas import load_audio, load_model, transcribe
from whisper_eas.research.bench import cpu_flags, run_header, title, write_results
from whisper_eas.research.metrics import word_error_rate
from whisper_eas.vad import SpeechMap, VadOptions, regions_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--split", choices=("tune", "heldout"), default="tune")
    parser.add_argument("--options", default="2000:400,1000:400,1000:200,500:200",
                        help="min_silence_ms:speech_pad_ms")  # fmt: skip
    parser.add_argument("--gaps", type=int, default=6)
    parser.add_argument("--long", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model(args.model)
    sets = {}
    for name, limit in (("gaps", args.gaps), ("long", args.long)):
        rows = [json.loads(line) for line in (Path("data") / name / "manifest.jsonl").open()]
        rows = [r for r in rows if r["group"] == args.split][:limit]
        sets[name] = [(r, load_audio(Path("data") / name / r["audio"])) for r in rows]
    result = {**run_header(torch.get_num_threads(), cpu_flags=cpu_flags()), "model": args.model,
              "split": args.split, "items": {k: [r["id"] for r, _ in v] for k, v in sets.items()},
              "rows": []}  # fmt: skip
    for spec in ["off", *args.options.split(",")]:
        row = {"options": spec}
        for name, items in sets.items():
            texts = []
            for record, wave in items:
                if spec == "off":
                    texts.append(transcribe(model, wave).text)
                    continue
                silence, pad = map(int, spec.split(":"))
                options = VadOptions(min_silence_ms=silence, speech_pad_ms=pad, min_speech_ms=0)
                texts.append(
                    transcribe(model, SpeechMap(regions_of(wave, options)).join(wave)).text
                )
            row[name] = word_error_rate([r["text"] for r, _ in items], texts)
        result["rows"].append(row)
        print(row, file=sys.stderr, flush=True)
    lines = [title(f"vad_filter's parameters, {args.model}, {args.split} split", result), "",
             f"Items: {', '.join(f'{k} {len(v)}' for k, v in result['items'].items())}. "
             "`off`: no VAD. WER %.", "",
             "| min silence ms : padding ms | gaps | long |", "|---|---|---|"]  # fmt: skip
    for row in result["rows"]:
        lines.append(f"| {row['options']} | {100 * row['gaps']:.2f} | {100 * row['long']:.2f} |")
    write_results(args.output, result, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
