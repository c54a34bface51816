"""Build long-form and speech-filled test audio from LibriSpeech dev-clean (committed: this
script; not committed: the audio it writes).

dev-clean's utterances come in chapters (SPEAKER-CHAPTER-NNNN, in reading order), so joining
consecutive utterances of one chapter gives real, continuous read speech:
- `long/`: whole recordings of 3 minutes or more, one per chapter (utterances in order, with
  seeded 0.5-1.0 s gaps of silence), with the utterance boundaries;
- `windows/`: speech-filled 27-30 s windows (consecutive utterances, 0.3 s gaps), the audio
  where a fixed EAS sparsity must drop speech;
- `issue150/`: 26 consecutive clips with 0.7 s gaps (issue 11's case; 174 s here).
Each set has a manifest.jsonl (`id`, `audio`, `text`, `duration_s`, `group`, and for the
recordings `utterances`: [id, start, end] in seconds). Groups: `tune` (chapters the settings
were chosen on) and `heldout` (every third chapter; used only to check, never to choose).

    python benchmarks/build_long_audio.py --data ../shared/data/librispeech-dev-clean --output data
"""

import argparse
import json
import random
from collections import defaultdict
from pathlib import Path

import numpy as np
import soundfile

from whisper_eas.audio import SAMPLE_RATE, load_audio


def chapters(data: Path) -> dict[str, list[dict]]:
    by_chapter = defaultdict(list)
    for line in (data / "manifest.jsonl").read_text().splitlines():
        record = json.loads(line)
        by_chapter[record["id"].rsplit("-", 1)[0]].append(record)
    return {key: sorted(items, key=lambda r: r["id"]) for key, items in sorted(by_chapter.items())}


def join(data: Path, records: list[dict], gaps: list[float]) -> tuple[np.ndarray, list]:
    pieces, spans, t = [], [], 0.0
    for record, gap in zip(records, gaps):
        audio = load_audio(data / record["audio"])
        spans.append([record["id"], round(t, 3), round(t + len(audio) / SAMPLE_RATE, 3)])
        pieces += [audio, np.zeros(round(gap * SAMPLE_RATE), dtype=np.float32)]
        t += len(audio) / SAMPLE_RATE + round(gap * SAMPLE_RATE) / SAMPLE_RATE
    return np.concatenate(pieces[:-1]), spans  # no gap after the last utterance


def write(folder: Path, name: str, audio: np.ndarray, records: list[dict], extra: dict) -> dict:
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    soundfile.write(folder / "audio" / f"{name}.wav", audio, SAMPLE_RATE, subtype="FLOAT")
    text = " ".join(r["text"] for r in records)
    return {
        "id": name,
        "audio": f"audio/{name}.wav",
        "text": text,
        "duration_s": round(len(audio) / SAMPLE_RATE, 3),
        **extra,
    }


def save(folder: Path, manifest: list[dict]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in manifest))
    minutes = sum(r["duration_s"] for r in manifest) / 60
    print(f"{folder}: {len(manifest)} recordings, {minutes:.1f} min")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/librispeech-dev-clean")
    parser.add_argument("--output", default="data")
    parser.add_argument("--max-minutes", type=float, default=5.0, help="cap per long recording")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    data, output, rng = Path(args.data), Path(args.output), random.Random(args.seed)
    by_chapter = chapters(data)

    long, windows = [], []
    for number, (chapter, records) in enumerate(by_chapter.items()):
        group = "heldout" if number % 3 == 2 else "tune"
        # A long recording: the chapter's utterances in order, up to the cap.
        take, total = [], 0.0
        for record in records:
            if total + record["duration_s"] > 60 * args.max_minutes:
                break
            take.append(record)
            total += record["duration_s"] + 0.75
        if total >= 180:
            gaps = [rng.uniform(0.5, 1.0) for _ in take]
            audio, spans = join(data, take, gaps)
            long.append(
                write(output / "long", chapter, audio, take, {"group": group, "utterances": spans})
            )
        # Speech-filled windows: consecutive utterances, 0.3 s apart, 27-30 s in all.
        start = 0
        while start < len(records):
            take, total = [], 0.0
            for record in records[start:]:
                if total + record["duration_s"] > 30.0:
                    break
                take.append(record)
                total += record["duration_s"] + 0.3
            if not take:  # an utterance over 30 s cannot fill a window alone
                start += 1
                continue
            if total - 0.3 >= 27.0:
                audio, spans = join(data, take, [0.3] * len(take))
                name = f"{chapter}-w{start:03d}"
                windows.append(
                    write(
                        output / "windows", name, audio, take, {"group": group, "utterances": spans}
                    )
                )
            start += len(take)

    # Issue 11's case: 26 consecutive clips with 0.7 s gaps (about 150 s).
    chapter = next(
        c
        for c, r in by_chapter.items()
        if len(r) >= 26 and sum(x["duration_s"] for x in r[:26]) > 130
    )
    take = by_chapter[chapter][:26]
    audio, spans = join(data, take, [0.7] * 26)
    issue = [
        write(
            output / "issue150",
            f"{chapter}-26clips",
            audio,
            take,
            {"group": "tune", "utterances": spans},
        )
    ]
    save(output / "long", long)
    save(output / "windows", windows)
    save(output / "issue150", issue)


if __name__ == "__main__":
    main()
