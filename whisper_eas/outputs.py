"""A transcription as a file a person or a program reads: txt, json, srt, vtt, tsv.

Subtitles are composed by maintained libraries (`srt`, `webvtt-py`), not by hand; times are
the segments' own, in seconds from the start of the audio."""

import datetime
import json
from dataclasses import asdict

from .transcribe import Transcription


def record_of(result: Transcription, path: str) -> dict:
    """The JSON object for one file: text, segments, and how often each safeguard fired."""
    return {
        "file": path,
        "text": result.text,
        "language": result.language,
        "language_probability": result.language_probability,
        "duration": result.duration,
        "windows": result.windows,
        "parts": result.parts,
        "kept_tokens": result.kept_tokens,
        "fallbacks": result.fallbacks,
        "tokens": result.tokens,
        "segments": [asdict(segment) for segment in result.segments],
    }


def to_txt(result: Transcription, path: str) -> str:
    """One segment per line, as openai-whisper's txt files."""
    return "".join(segment.text + "\n" for segment in result.segments if segment.text)


def to_json(result: Transcription, path: str) -> str:
    return json.dumps(record_of(result, path), ensure_ascii=False, indent=2) + "\n"


def to_srt(result: Transcription, path: str) -> str:
    import srt

    seconds = lambda s: datetime.timedelta(seconds=s)  # noqa: E731
    return srt.compose(
        [
            srt.Subtitle(i, seconds(s.start), seconds(s.end), s.text)
            for i, s in enumerate(result.segments, 1)
        ],
        reindex=False,
    )


def to_vtt(result: Transcription, path: str) -> str:
    import webvtt

    captions = webvtt.WebVTT()
    for s in result.segments:
        captions.captions.append(webvtt.Caption(clock(s.start, True), clock(s.end, True), s.text))
    return captions.content


def clock(seconds: float, hours: bool = False) -> str:
    """HH:MM:SS.mmm, or MM:SS.mmm under an hour unless `hours` (vtt's and --verbose's times)."""
    millis = round(seconds * 1000)
    h, m, s, ms = millis // 3_600_000, millis // 60_000 % 60, millis // 1000 % 60, millis % 1000
    return (f"{h:02d}:" if h or hours else "") + f"{m:02d}:{s:02d}.{ms:03d}"


def to_tsv(result: Transcription, path: str) -> str:
    """openai-whisper's layout: start and end in integer milliseconds, then the text."""
    rows = ["start\tend\ttext"]
    rows += [
        f"{round(1000 * s.start)}\t{round(1000 * s.end)}\t{s.text.replace(chr(9), ' ')}"
        for s in result.segments
    ]
    return "\n".join(rows) + "\n"


WRITERS = {"txt": to_txt, "json": to_json, "srt": to_srt, "vtt": to_vtt, "tsv": to_tsv}
