"""Medium-length recordings (about a minute) from the long ones: each long recording of a
manifest cut after the utterance that ends nearest a target length, its text the texts of
the utterances kept. What `transcribe` does between a short clip and a long recording.

    python benchmarks/medium_audio.py --data data/long --output data/medium --seconds 40,60,80
"""

import argparse
import json
from pathlib import Path

import numpy as np
import soundfile as sf

from whisper_eas import load_audio
from whisper_eas.audio import SAMPLE_RATE


def dev_clean_texts(folder: Path) -> dict[str, str]:
    """Each dev-clean utterance's reference text, by id."""
    rows = (json.loads(line) for line in (folder / "manifest.jsonl").open())
    return {row["id"]: row["text"] for row in rows}


def cut_near(record: dict, data: Path, target: float) -> tuple[list, np.ndarray]:
    """A long recording (a `data/long` manifest row) cut after the utterance that ends nearest
    `target` seconds, in the middle of the pause after it (or at the recording's end): the
    [id, start, end] of the utterances kept, and the audio."""
    utterances = record["utterances"]
    last = min(range(len(utterances)), key=lambda i: abs(utterances[i][2] - target))
    kept = utterances[: last + 1]
    end = (kept[-1][2] + utterances[last + 1][1]) / 2 if last + 1 < len(utterances) else None
    waveform = load_audio(data / record["audio"])
    return kept, waveform[: round(end * SAMPLE_RATE)] if end is not None else waveform


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="data/long", help="folder with manifest.jsonl")
    parser.add_argument("--dev-clean", default="../shared/data/librispeech-dev-clean")
    parser.add_argument("--output", default="data/medium")
    parser.add_argument("--seconds", default="40,60,80", help="target lengths, taken in turn")
    args = parser.parse_args()
    texts = dev_clean_texts(Path(args.dev_clean))
    targets = [float(s) for s in args.seconds.split(",")]
    out = Path(args.output)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    rows = []
    for k, line in enumerate((Path(args.data) / "manifest.jsonl").open()):
        record = json.loads(line)
        target = targets[k % len(targets)]
        kept, waveform = cut_near(record, Path(args.data), target)
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
