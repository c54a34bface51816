"""A transcription as a file a person or a program reads: txt, json, srt, vtt, tsv.

Subtitles are composed by maintained libraries (`srt`, `webvtt-py`), not by hand; times are
the segments' own, in seconds from the start of the audio, or with word timing and a
`SubtitleLayout`, the words' (openai-whisper's subtitle options, written anew)."""

import datetime
import json
from dataclasses import asdict, dataclass

from .transcribe import Transcription

LONG_PAUSE = 3.0  # seconds: with a line layout, a pause this long between words starts a cue


@dataclass(frozen=True)
class SubtitleLayout:
    """openai-whisper's subtitle options (they need word timestamps). Lines break before a word
    that would make them wider than `max_line_width` characters; with both a width and
    `max_line_count`, cues are cut every `max_line_count` lines (and at pauses of 3 s) instead
    of at segment ends. Without a width, `max_words_per_line` cuts a segment's cue every that
    many words. With `highlight_words`, each word gets a cue of its own span in which it is
    underlined."""

    max_line_width: int | None = None
    max_line_count: int | None = None
    max_words_per_line: int | None = None
    highlight_words: bool = False

    def __post_init__(self):
        for name in ("max_line_width", "max_line_count", "max_words_per_line"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")

    @property
    def is_plain(self) -> bool:
        return self == SubtitleLayout()


def subtitle_lines(result: Transcription, layout: SubtitleLayout) -> list[list[list]]:
    """Cues as lists of lines, each a list of words (timed, as decoded with their spaces)."""
    width = layout.max_line_width or 10**9
    per_cue = layout.max_words_per_line if layout.max_line_width is None else None
    across_segments = layout.max_line_width is not None and layout.max_line_count is not None
    cues, lines, last_start = [], [], None
    for segment in result.segments:
        for index, word in enumerate(segment.words):
            chunk_start = index == 0 or (per_cue is not None and index % per_cue == 0)
            paused = last_start is not None and word.start - last_start > LONG_PAUSE
            line = "".join(w.word for w in lines[-1]).lstrip() if lines else ""
            if lines and not across_segments and chunk_start:  # a segment (or chunk) ends a cue
                cues.append(lines)
                lines = [[word]]
            elif lines and len(line) + len(word.word) <= width and not (across_segments and paused):
                lines[-1].append(word)
            elif lines and across_segments and (paused or len(lines) >= layout.max_line_count):
                cues.append(lines)
                lines = [[word]]
            else:
                lines.append([word])
            last_start = word.start
    if lines:
        cues.append(lines)
    return cues


def cues_of(result: Transcription, layout: SubtitleLayout) -> list[tuple[float, float, str]]:
    """(start, end, text) of each subtitle: a segment each, or laid out from the words."""
    timed = all(segment.words for segment in result.segments)
    if layout.is_plain or not timed:
        return [(s.start, s.end, s.text) for s in result.segments]
    cues = []
    for lines in subtitle_lines(result, layout):
        words = [w for line in lines for w in line]

        def text(underlined=None):
            shown = lambda w: (  # noqa: E731
                w.word.replace(w.word.strip(), f"<u>{w.word.strip()}</u>")
                if w is underlined else w.word
            )  # fmt: skip
            return "\n".join("".join(shown(w) for w in line).strip() for line in lines)

        if not layout.highlight_words:
            cues.append((words[0].start, words[-1].end, text()))
            continue
        moment = words[0].start
        for word in words:
            if word.start > moment:  # between words: the cue without an underline
                cues.append((moment, word.start, text()))
            cues.append((word.start, word.end, text(word)))
            moment = word.end
    return cues


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


def to_srt(result: Transcription, path: str, layout: SubtitleLayout = SubtitleLayout()) -> str:
    import srt

    seconds = lambda s: datetime.timedelta(seconds=s)  # noqa: E731
    return srt.compose(
        [
            srt.Subtitle(i, seconds(start), seconds(end), text)
            for i, (start, end, text) in enumerate(cues_of(result, layout), 1)
        ],
        reindex=False,
    )


def to_vtt(result: Transcription, path: str, layout: SubtitleLayout = SubtitleLayout()) -> str:
    import webvtt

    captions = webvtt.WebVTT()
    for start, end, text in cues_of(result, layout):
        captions.captions.append(webvtt.Caption(clock(start, True), clock(end, True), text))
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
