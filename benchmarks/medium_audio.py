"""Medium-length recordings (about a minute) from the long ones: each long recording of a
manifest cut after the utterance that ends nearest a target length, its text the texts of
the utterances kept. What `transcribe` does between a short clip and a long recording.

    python benchmarks/medium_audio.py --data data/long --output data/medium --seconds 40,60,80
"""

import argparse
import json
from pathlib import Path

import soundfile as sf

from whisper_eas import load_audio
from whisper_eas.audio import SAMPLE_RATE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/long", help="folder with manifest.jsonl")
    parser.add_argument("--dev-clean", default="../shared/data/librispeech-dev-clean")
    parser.add_argument("--output", default="data/medium")
    parser.add_argument("--seconds", default="40,60,80", help="target lengths, taken in turn")
    args = parser.parse_args()
    texts = {}
    for line in (Path(args.dev_clean) / "manifest.jsonl").open():
        row = json.loads(line)
        texts[row["id"]] = row["text"]
    targets = [float(s) for s in args.seconds.split(",")]
    out = Path(args.output)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    rows = []
    for k, line in enumerate((Path(args.data) / "manifest.jsonl").open()):
        record = json.loads(line)
        target = targets[k % len(targets)]
        utterances = record["utterances"]
        last = min(range(len(utterances)), key=lambda i: abs(utterances[i][2] - target))
        kept = utterances[: last + 1]
        # cut in the middle of the pause after the last kept utterance (or at the end)
        end = (kept[-1][2] + utterances[last + 1][1]) / 2 if last + 1 < len(utterances) else None
        waveform = load_audio(Path(args.data) / record["audio"])
        waveform = waveform[: round(end * SAMPLE_RATE)] if end is not None else waveform
        name = f"{record['id']}-{int(target)}"
        sf.write(out / "audio" / f"{name}.wav", waveform, SAMPLE_RATE, subtype="FLOAT")
        rows.append({
            "id": name, "audio": f"audio/{name}.wav",
            "text": " ".join(texts[u[0]] for u in kept),
            "duration_s": round(len(waveform) / SAMPLE_RATE, 3), "group": record["group"],
            "utterances": kept,
        })  # fmt: skip
    with (out / "manifest.jsonl").open("w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    print(f"{len(rows)} recordings, {sum(r['duration_s'] for r in rows) / 60:.1f} min -> {out}")


if __name__ == "__main__":
    main()
