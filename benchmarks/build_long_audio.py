"""Build long-form and speech-filled test audio from LibriSpeech dev-clean (committed: this
script; not committed: the audio it writes).

dev-clean's utterances come in chapters (SPEAKER-CHAPTER-NNNN, in reading order), so joining
consecutive utterances of one chapter gives real, continuous read speech:
- `long/`: whole recordings of 3 minutes or more, one per chapter (utterances in order, with
  seeded 0.5-1.0 s gaps of silence), with the utterance boundaries;
- `windows/`: speech-filled 27-30 s windows (consecutive utterances, 0.3 s gaps), the audio
  where a fixed EAS sparsity must drop speech;
- `issue150/`: 26 consecutive clips with 0.7 s gaps (issue 11's case; 174 s here).
- `gaps/`: recordings of 2-4 minutes of a chapter's speech with three 8-20 s stretches of
  non-speech inserted between utterances (digital silence, white noise, pink noise, mains hum,
  synthetic music), the kinds rotating from recording to recording; `gaps` in the manifest:
  [kind, start, end] in seconds, so that a word placed inside one counts as invented.
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


GAP_KINDS = ("silence", "white noise", "pink noise", "hum", "music")


def non_speech(kind: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A stretch of non-speech at levels below read speech's (dev-clean's RMS is ~0.05-0.1),
    music as loud as speech."""
    n = round(seconds * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    if kind == "silence":
        return np.zeros(n, dtype=np.float32)
    if kind == "white noise":
        return (0.01 * rng.standard_normal(n)).astype(np.float32)
    if kind == "pink noise":  # 1/f power: white noise shaped in the frequency domain
        spectrum = np.fft.rfft(rng.standard_normal(n))
        spectrum /= np.sqrt(np.maximum(np.fft.rfftfreq(n, 1 / SAMPLE_RATE), 1.0))
        pink = np.fft.irfft(spectrum, n)
        return (0.015 * pink / pink.std()).astype(np.float32)
    if kind == "hum":  # mains hum: 50 or 60 Hz and its odd harmonics, a little noise
        base = rng.choice([50.0, 60.0])
        hum = sum(np.sin(2 * np.pi * base * k * t) / k for k in (1, 3, 5, 7))
        return (0.02 * hum + 0.002 * rng.standard_normal(n)).astype(np.float32)
    # Music-like: a melody of pentatonic notes over a held chord, notes with harmonics and
    # an attack/decay envelope.
    music, at = np.zeros(n), 0
    scale = 220.0 * 2 ** (np.array([0, 2, 4, 7, 9, 12, 14, 16]) / 12)
    while at < n:
        length = min(n - at, round(rng.uniform(0.2, 0.5) * SAMPLE_RATE))
        local = np.arange(length) / SAMPLE_RATE
        envelope = np.minimum(local / 0.01, 1.0) * np.exp(-3.0 * local)
        pitch = rng.choice(scale)
        note = sum(np.sin(2 * np.pi * pitch * h * local) / h**1.5 for h in (1, 2, 3, 4))
        music[at : at + length] += envelope * note
        at += length
    chord = sum(np.sin(2 * np.pi * f * t) for f in (110.0, 138.6, 164.8)) / 3
    music += 0.5 * chord
    return (0.08 * music / music.std()).astype(np.float32)


def leading(records: list[dict], seconds: float) -> list[dict]:
    """A chapter's first utterances, as many as fit in `seconds` of speech."""
    take, total = [], 0.0
    for record in records:
        if total + record["duration_s"] > seconds:
            break
        take.append(record)
        total += record["duration_s"]
    return take


def with_gaps(
    data: Path,
    records: list[dict],
    rng: np.random.Generator,
    first_kind: int,
    gap_seconds: tuple[float, float] = (8.0, 20.0),
):
    """The utterances joined by 0.5-1.0 s pauses, with three long non-speech stretches (of
    `gap_seconds`, uniform) at utterance boundaries a quarter, half and three quarters of the
    way through."""
    places = {round(len(records) * q) for q in (0.25, 0.5, 0.75)}
    pieces, spans, gaps, t = [], [], [], 0.0
    for i, record in enumerate(records):
        audio = load_audio(data / record["audio"])
        spans.append([record["id"], round(t, 3), round(t + len(audio) / SAMPLE_RATE, 3)])
        pieces.append(audio)
        t += len(audio) / SAMPLE_RATE
        if i == len(records) - 1:
            break
        if i + 1 in places:
            kind = GAP_KINDS[(first_kind + len(gaps)) % len(GAP_KINDS)]
            stretch = non_speech(kind, rng.uniform(*gap_seconds), rng)
            gaps.append([kind, round(t, 3), round(t + len(stretch) / SAMPLE_RATE, 3)])
        else:
            stretch = np.zeros(round(rng.uniform(0.5, 1.0) * SAMPLE_RATE), dtype=np.float32)
        pieces.append(stretch)
        t += len(stretch) / SAMPLE_RATE
    return np.concatenate(pieces), spans, gaps


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

    long, windows, gapped = [], [], []
    noise = np.random.default_rng(args.seed)
    for number, (chapter, records) in enumerate(by_chapter.items()):
        group = "heldout" if number % 3 == 2 else "tune"
        # A recording with gaps: 2-4 minutes of the chapter's speech, three long gaps.
        take = leading(records, 240)
        total = sum(r["duration_s"] for r in take)
        if total >= 120 and len(take) >= 6:
            audio, spans, gaps = with_gaps(data, take, noise, first_kind=number)
            extra = {"group": group, "utterances": spans, "gaps": gaps}
            gapped.append(write(output / "gaps", chapter, audio, take, extra))
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
    save(output / "gaps", gapped)


if __name__ == "__main__":
    main()
