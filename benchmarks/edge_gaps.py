"""Recordings that open and close on long non-speech: dev-clean chapters with 30-75 s of
non-speech before the first word, in the middle and after the last word (an intro, a break,
an outro), where the other gap sets put 8-20 s between utterances only. Kinds rotate from
recording to recording: digital silence, white noise as loud as speech, pink noise, mains hum,
synthetic music, and recorded music when `--music` names a folder of .ogg tracks (see
`recorded_music_gaps.py`). Chapters: every third from the third, up to 90 s of speech each,
a faint room tone throughout. The manifest is `data/gaps`'s (texts, utterances, gaps).

    python benchmarks/edge_gaps.py --output data/gaps_edges --count 10 \\
        --music /tmp/wesnoth/usr/share/games/wesnoth/1.16/data/core/music
    python benchmarks/gaps.py --models tiny.en,base --data data/gaps_edges --pick first \\
        --limit 10 --systems "ours,ours --eas,faster-whisper vad_filter" \\
        --output benchmarks/results/gaps_edges_cpu
"""

import argparse
from pathlib import Path

import build_long_audio as gaps
import numpy as np
import recorded_music_gaps as recorded
from more_gaps import non_speech as more_non_speech

from whisper_eas.audio import SAMPLE_RATE, load_audio

KINDS = ("silence", "loud noise", "pink noise", "hum", "music", "recorded music")
PLACES = ("intro", "break", "outro")


def stretch(kind: str, seconds: float, rng: np.random.Generator, music: list) -> np.ndarray:
    if kind == "recorded music":
        return recorded.excerpt(music, "music, as loud as speech", seconds, rng)
    if kind == "loud noise":
        return more_non_speech(kind, seconds, rng)
    return gaps.non_speech(kind, seconds, rng)


def recording(data: Path, records: list, rng: np.random.Generator, kinds: list, music: list):
    """Non-speech, the first half of the utterances, non-speech, the rest, non-speech; the
    utterances joined by 0.5-1.0 s of silence."""
    half = len(records) // 2
    pieces, spans, found, t = [], [], [], 0.0

    def add_gap(kind: str) -> None:
        nonlocal t
        piece = stretch(kind, rng.uniform(30.0, 75.0), rng, music)
        found.append([kind, round(t, 3), round(t + len(piece) / SAMPLE_RATE, 3)])
        pieces.append(piece)
        t += len(piece) / SAMPLE_RATE

    add_gap(kinds[0])
    for i, record in enumerate(records):
        if i == half:
            add_gap(kinds[1])
        elif i > 0:
            pause = np.zeros(round(rng.uniform(0.5, 1.0) * SAMPLE_RATE), dtype=np.float32)
            pieces.append(pause)
            t += len(pause) / SAMPLE_RATE
        audio = load_audio(data / record["audio"])
        spans.append([record["id"], round(t, 3), round(t + len(audio) / SAMPLE_RATE, 3)])
        pieces.append(audio)
        t += len(audio) / SAMPLE_RATE
    add_gap(kinds[2])
    return np.concatenate(pieces), spans, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/librispeech-dev-clean")
    parser.add_argument("--music", help="a folder of .ogg tracks (else no recorded music)")
    parser.add_argument("--output", default="data/gaps_edges")
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    data, out, rng = Path(args.data), Path(args.output), np.random.default_rng(args.seed)
    music = recorded.tracks(Path(args.music)) if args.music else []
    kinds = [k for k in KINDS if music or k != "recorded music"]
    chapters = list(gaps.chapters(data).items())[2::3][: args.count]
    rows = []
    for number, (chapter, records) in enumerate(chapters):
        take = gaps.leading(records, 90)
        chosen = [kinds[(number + k) % len(kinds)] for k in range(len(PLACES))]
        audio, spans, found = recording(data, take, rng, chosen, music)
        audio = audio + (0.0005 * rng.standard_normal(len(audio))).astype(np.float32)  # room
        extra = {"group": "edges", "utterances": spans, "gaps": found}
        rows.append(gaps.write(out, chapter, audio, take, extra))
    gaps.save(out, rows)


if __name__ == "__main__":
    main()
