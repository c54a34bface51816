"""Recordings with gaps of recorded music: dev-clean chapters with three 8-20 s stretches of
real orchestral music between utterances, where the other gap sets have synthetic tones. The
music is Battle for Wesnoth's soundtrack (GPL-2+), which Debian ships as a package; it is not
committed, nor is the audio this script writes. Fetch and unpack it first:

    apt-get download wesnoth-1.16-music && dpkg-deb -x wesnoth-1.16-music_*.deb /tmp/wesnoth
    python benchmarks/recorded_music_gaps.py \\
        --music /tmp/wesnoth/usr/share/games/wesnoth/1.16/data/core/music --output data/gaps_music
    python benchmarks/gaps.py --models tiny.en,base --data data/gaps_music --pick first \\
        --limit 12 --systems "ours,ours --eas,faster-whisper vad_filter" \\
        --output benchmarks/results/gaps_music_cpu

Each stretch is a random excerpt of a random track (tracks with a choir left out: sung words
are speech), faded in and out over 0.5 s, at one of three levels rotating from gap to gap: as
loud as the speech beside it, half as loud, and a quarter. Chapters: every third from the
second (`more_gaps.py` takes every third from the first), up to 150 s of speech each, a faint
room tone throughout. The manifest is `data/gaps`'s (texts, utterances, gaps), so `gaps.py`
and `constant_ab.py` read it. `data/music_nofade` (the music starting at once, as a note's
attack does): `--fade 0.02 --count 16 --seed 21 --output data/music_nofade`.
"""

import argparse
from pathlib import Path

import build_long_audio as gaps
import numpy as np
from more_gaps import write_set

from whisper_eas.audio import SAMPLE_RATE, load_audio

SUNG = ("nunc_dimittis",)  # a choir singing words
SHORTEST_TRACK_S = 25.0
LEVELS = {"music, as loud as speech": 1.0, "music, half": 0.5, "music, a quarter": 0.25}
SPEECH_RMS = 0.06  # dev-clean's read speech, roughly (0.05-0.1)
FADE_S = 0.5


def tracks(folder: Path) -> list[np.ndarray]:
    found = []
    for path in sorted(folder.glob("*.ogg")):
        if path.stem in SUNG:
            continue
        audio = load_audio(path)
        if len(audio) >= SHORTEST_TRACK_S * SAMPLE_RATE:
            found.append(audio)
    if not found:
        raise SystemExit(f"no .ogg track of {SHORTEST_TRACK_S:.0f} s or more in {folder}")
    return found


def excerpt(
    music: list[np.ndarray],
    kind: str,
    seconds: float,
    rng: np.random.Generator,
    fade_s: float = FADE_S,
):
    """`seconds` of a random track from a random place, its loudness set by `kind`, faded in
    and out over `fade_s`."""
    track = music[rng.integers(len(music))]
    n = min(round(seconds * SAMPLE_RATE), len(track))
    start = rng.integers(0, len(track) - n + 1)
    piece = track[start : start + n].astype(np.float64)
    fade = np.minimum(1.0, np.minimum(np.arange(n), np.arange(n)[::-1]) / (fade_s * SAMPLE_RATE))
    piece *= fade
    rms = np.sqrt(np.mean(piece**2)) or 1.0
    return (LEVELS[kind] * SPEECH_RMS * piece / rms).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="../shared/data/librispeech-dev-clean")
    parser.add_argument("--music", required=True, help="a folder of .ogg tracks")
    parser.add_argument("--output", default="data/gaps_music")
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--fade", type=float, default=FADE_S, help="seconds faded in and out")
    args = parser.parse_args()
    data, out = Path(args.data), Path(args.output)
    music = tracks(Path(args.music))
    gaps.GAP_KINDS = tuple(LEVELS)
    gaps.non_speech = lambda kind, seconds, rng: excerpt(music, kind, seconds, rng, args.fade)
    chapters = list(gaps.chapters(data).items())[1::3][: args.count]
    write_set(data, out, chapters, np.random.default_rng(args.seed), "music")


if __name__ == "__main__":
    main()
