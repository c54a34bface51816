"""From a decoded window to segments in the file's time, and the checks that drop text the
audio does not hold: a prompt read again (squeezed repeats), openai-whisper's
`hallucination_silence_threshold`, and segments with far fewer words than the speech the VAD
hears in them. Each check returns the window's outcome cut where the text stops being what
was said, and moves the seek there, so that the rest is decoded again.
"""

import bisect
from dataclasses import dataclass, field, replace
from difflib import SequenceMatcher
from statistics import median

from .audio import HOP_LENGTH, N_SAMPLES, SAMPLE_RATE
from .decoding import SECONDS_PER_TIMESTAMP, WhisperModel
from .timing import Word, anomaly, is_anomalous
from .vad import SpeechMap
from .windows import Attempt, Safeguards, Window, WindowRequest, word_count

SAMPLES_PER_TIMESTAMP = round(SECONDS_PER_TIMESTAMP * SAMPLE_RATE)  # 320


@dataclass
class Segment:
    start: float  # seconds from the start of the audio
    end: float
    text: str
    tokens: list[int]  # text tokens
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    temperature: float
    kept_tokens: int  # audio tokens the decoder attended to in this window (1500 without EAS)
    words: list[Word] = field(default_factory=list)  # with word_timestamps=True
    id: int = 0  # its place in the file's segments
    seek: int = 0  # log-mel frame (10 ms) where its window started, as openai-whisper's


@dataclass
class WindowOutcome:
    """What one decoded window adds to its file."""

    segments: list[Segment]
    advance: int  # samples the seek moves
    prompt_tokens: list[int]  # the complete segments' tokens: the next window's prompt
    silence: bool
    heard_to_the_end: bool = False  # ended on a lone timestamp: nothing to decode again
    skipped_hallucination: bool = False  # hallucination_silence_threshold dropped text
    thin: bool = False  # cut before a segment with far fewer words than its speech holds
    implausible: bool = False  # more words than the speech heard holds, without confidence


def read_window(
    attempt: Attempt,
    window: Window,
    seek: int,
    *,
    model: WhisperModel,
    safeguards: Safeguards,
    timestamps: bool,
    heard: float | None = None,
) -> WindowOutcome:
    """A window's segments (in the file's time), how far the seek moves, and its prompt.
    `heard`: the seconds of the window the VAD calls speech (None: not known)."""
    result, tokenizer = attempt.result, model.tokenizer
    if safeguards.is_silence(result, heard):
        return WindowOutcome([], window.n_samples, [], silence=True)
    if safeguards.is_implausible(result, heard):
        return WindowOutcome([], window.n_samples, [], silence=False, implausible=True)
    if timestamps:
        pieces, advance, used = split_segments(
            result.tokens, tokenizer.timestamp_begin, window.n_samples
        )
    else:
        pieces, advance, used = [(0, window.n_samples, result.tokens)], window.n_samples, None
    kept = attempt.audio.kept_counts()[0]
    segments = []
    for start, end, text_tokens in pieces:
        text = tokenizer.decode(text_tokens).strip()
        if not text or end <= start and timestamps:
            continue  # an empty or zero-length segment carries nothing
        segments.append(
            Segment(
                start=round((seek + start) / SAMPLE_RATE, 3),
                end=round((seek + end) / SAMPLE_RATE, 3),
                text=text,
                tokens=text_tokens,
                avg_logprob=result.avg_logprob,
                compression_ratio=result.compression_ratio,
                no_speech_prob=result.no_speech_prob,
                temperature=result.temperature,
                kept_tokens=kept,
                seek=seek // HOP_LENGTH,
            )
        )
    heard = timestamps and ends_on_lone_timestamp(result.tokens, tokenizer.timestamp_begin)
    return WindowOutcome(segments, advance, result.tokens[:used], False, heard)


# A segment that repeats the segments just before it and is spoken faster than anyone speaks
# is the prompt read again, not audio: a short last window of a part or a file can write the
# previous sentence once more, its words squeezed into a fraction of a second (base, 11 words
# in 0.68 s at a recording's end). Read speech runs 2-4 words a second. The prompt it reads
# again may lie further back than the last few segments: with `--eas` base wrote a window's
# first sentence (6 words) into its 0.8 s tail, six segments later, at 7.7 words a second
# (AMX Xeon, data/windows 1919-142785-w041). At 6 words a second and 8 segments back, 3,937
# segments of 22 long and gap recordings (tiny.en and base, EAS on and off) lost none, as at
# 8 and 4 (docs/tried.md, 2026-12-05, eleventh session).
REPEAT_LOOKBACK = 8  # segments
# The share of a segment's words found, in order, in the segments just before it, joined: a
# squeezed repeat may be a clause of a longer sentence (base, "The Metal Forest is in the Great
# Dome de Cavern." in 1 s, 9 of the 14 words of the segment before it), or pieces of two
# (base, "The most poetry and most literature of life as we live it today." in 0.48 s: the
# first 6 words of one segment and the 7 of the next but one).
REPEAT_SIMILARITY = 0.8
REPEAT_MIN_WORDS = 4
SQUEEZED_WORDS_PER_SECOND = 6.0


def drop_squeezed_repeats(segments: list[Segment], earlier: list[Segment]) -> list[Segment]:
    """The segments less those that repeat the segments just before them (in `earlier`, or
    in this window) at more than SQUEEZED_WORDS_PER_SECOND (their words' span when timed, else
    their own)."""

    def words(segment: Segment) -> list[str]:
        return "".join(c for c in segment.text.lower() if c.isalnum() or c.isspace()).split()

    kept, before = [], [words(segment) for segment in earlier]
    for segment in segments:
        said = words(segment)
        timed = segment.words
        span = (timed[-1].end - timed[0].start) if timed else (segment.end - segment.start)
        squeezed = len(said) >= REPEAT_MIN_WORDS and len(said) > SQUEEZED_WORDS_PER_SECOND * span
        recent = [word for other in before[-REPEAT_LOOKBACK:] for word in other]
        if not (squeezed and found_in(said, recent) >= REPEAT_SIMILARITY):
            kept.append(segment)
        before.append(said)
    return kept


# A window that starts on a music note the VAD heard as speech for a second is decoded, and
# base wrote the sentence before it again there, its words improbable (p < 0.15) and most of no
# length; openai-whisper's rules kept it, the average log-probability (-0.8) being above -1.
# Its window's no-speech probability (0.7-0.9) and its words' scores (`timing.anomaly`: 3 or
# more, openai-whisper's bar) together say it was not heard: such a segment is dropped (with
# word timestamps and `vad_check`). openai's other bar, about one a word, is not used: it
# dropped real single words ("them.", p < 0.15) at windows' starts on gap-free recordings.
INVENTED_NO_SPEECH = 0.6  # openai-whisper's no-speech threshold
INVENTED_SCORE = 3.0


def drop_invented(segments: list[Segment]) -> list[Segment]:
    """The segments less those of a window likely without speech (no-speech probability over
    INVENTED_NO_SPEECH) whose words look invented (score INVENTED_SCORE or more)."""
    return [
        s
        for s in segments
        if not (s.no_speech_prob > INVENTED_NO_SPEECH and anomaly(s.words)[0] >= INVENTED_SCORE)
    ]


def found_in(words: list[str], other: list[str]) -> float:
    """The share of `words` found, in order, in `other`."""
    blocks = SequenceMatcher(None, words, other, autojunk=False).get_matching_blocks()
    return sum(block.size for block in blocks) / len(words)


def split_at_joins(segments: list[Segment], speech: SpeechMap, decode) -> list[Segment]:
    """The segments (times in the joined audio), each one that runs over a gap's join of
    `speech` cut there into one segment per side, by where its words end: mapped back, a
    segment never spans a gap taken out (a subtitle shown over 10 s of music). A segment
    without words stays whole. `decode`: the tokenizer's, to find where its tokens divide."""
    pieces = []
    for segment in segments:
        words = segment.words
        if not words or not speech.crosses(
            min(segment.start, words[0].start), max(segment.end, words[-1].end)
        ):  # (the aligner may place a segment's words past its decoded span)
            pieces.append(segment)
            continue
        groups = {}
        for word in segment.words:
            side = speech.side_of(round(word.end * SAMPLE_RATE))  # as it maps
            groups.setdefault(side, []).append(word)
        start, said = 0, ""
        for side, words in groups.items():
            said += "".join(w.word for w in words)
            end = next(
                (k for k in range(start + 1, len(segment.tokens) + 1)
                 if decode(segment.tokens[:k]) == said),
                len(segment.tokens),
            )  # fmt: skip
            low, high = speech.side_span(side)
            for word in words:  # one stretched over the join starts at it (as it maps back)
                word.start = max(low, word.start)
            pieces.append(
                replace(segment, start=max(low, words[0].start), end=min(high, words[-1].end),
                        text="".join(w.word for w in words).strip(),
                        tokens=segment.tokens[start:end], words=words)
            )  # fmt: skip
            start = end
    return pieces


def ends_on_lone_timestamp(tokens: list[int], timestamp_begin: int) -> bool:
    """The window's speech ended inside it: all of it was heard."""
    return len(tokens) >= 2 and tokens[-1] >= timestamp_begin > tokens[-2]


def split_segments(tokens: list[int], timestamp_begin: int, window_samples: int):
    """A window's tokens -> ([(start, end, text tokens)] in samples from the window start,
    samples to advance, tokens consumed). Complete segments close with a timestamp pair; when
    the window ends on a lone timestamp, or has no complete segment, the whole window (and all
    its tokens) is consumed. Tokens after the last complete segment are decoded again from the
    new seek, so they must not enter the next window's prompt either."""
    is_ts = [t >= timestamp_begin for t in tokens]
    position = lambda t: (t - timestamp_begin) * SAMPLES_PER_TIMESTAMP  # noqa: E731
    ends = [i for i in range(1, len(tokens)) if is_ts[i - 1] and is_ts[i]]  # pair boundaries
    single_ending = ends_on_lone_timestamp(tokens, timestamp_begin)
    if not ends:  # one segment: from its opening timestamp to its closing one, if any
        start = position(tokens[0]) if tokens and is_ts[0] else 0
        closing = [t for t in tokens[1:] if t >= timestamp_begin]
        end = position(closing[-1]) if closing else window_samples
        text = [t for t in tokens if t < timestamp_begin]
        return [(start, min(max(end, start), window_samples), text)], window_samples, len(tokens)
    if single_ending:
        ends.append(len(tokens))
    segments, begin = [], 0
    for end in ends:
        piece = tokens[begin:end]
        text = [t for t in piece if t < timestamp_begin]
        segments.append((position(piece[0]), min(position(piece[-1]), window_samples), text))
        begin = end
    advance = window_samples if single_ending else position(tokens[begin - 1])
    return segments, (advance if advance > 0 else window_samples), begin


# The aligner can stretch a window's last words over speech the model did not write: tiny.en
# timed "I thought I had" 3.1 s past its segment's decoded end, over "never seen any blood so
# bright", and the next window, starting at the word's end, skipped it. Past this much speech
# beyond the decoded end, the seek stays there (openai-whisper's rule without word timing).
OVERSHOOT_S = 1.0


def advance_to_word_end(
    outcome: WindowOutcome, seek: int, pauses: list[tuple[int, int]] | None = None
) -> int:
    """The seek's advance when the next window starts where the last word ended (a word's end
    can lie past the last segment's timestamp: starting there, no word is heard twice), unless
    it ends OVERSHOOT_S or more of speech (`pauses`: the VAD's; else of time) past the decoded
    end (`outcome.advance`)."""
    end = round(outcome.segments[-1].end * SAMPLE_RATE / HOP_LENGTH) * HOP_LENGTH
    decoded_end = seek + outcome.advance
    if end > decoded_end:
        past = (end - decoded_end) / SAMPLE_RATE
        if pauses is not None:
            past = heard_seconds(pauses, decoded_end, end)
        if past >= OVERSHOOT_S:
            return outcome.advance
    return end - seek if end > seek else outcome.advance


def last_word_end(segments: list[Segment]) -> float | None:
    ends = [w.end for s in segments for w in s.words]
    return ends[-1] if ends else (segments[-1].end if segments else None)


def skip_hallucinations(
    outcome: WindowOutcome,
    request: "WindowRequest",
    threshold: float,
    last_speech: float,
    *,
    file_seconds: float,
    timestamp_begin: int,
) -> WindowOutcome:
    """openai-whisper's `hallucination_silence_threshold` (our reading of its rules): text
    whose words look invented (`timing.is_anomalous`) and that sits between stretches of more
    than `threshold` seconds without speech is dropped, and decoding goes on after the silence
    instead of after the invented text:
    - a window that opens with such a segment after a silence > threshold is decoded again
      from where that segment starts (nothing of it is kept);
    - an anomalous segment with silence (or more anomalies, or the window's edge) on both sides
      is cut with everything after it, and the seek moves to its start;
    - when the window did not end on its own, the seek goes to the last word's end only if
      more than `threshold` seconds of the window follow it; otherwise past the window.
    One addition to openai's rules: the file's end counts as silence after a segment (openai's
    keep an invented sentence in a file's last, short window after the silence was skipped)."""
    offset, window_seconds = request.seek / SAMPLE_RATE, request.window.n_samples / SAMPLE_RATE
    window_end = offset + N_SAMPLES / SAMPLE_RATE
    segments, advance = outcome.segments, outcome.advance
    end = last_word_end(segments)
    ended_early = not outcome.heard_to_the_end and end is not None and end > offset
    if ended_early and window_end - end <= threshold:  # too little left after the last word
        advance = request.window.n_samples
    spoken = [i for i, s in enumerate(segments) if s.words]
    if spoken and is_anomalous(segments[spoken[0]].words):
        gap = segments[spoken[0]].start - offset
        if gap > threshold:  # decode again after the silence, keeping nothing of this window
            return replace(outcome, segments=[], advance=seconds_to_samples(gap), prompt_tokens=[],
                           skipped_hallucination=True)  # fmt: skip
    previous_end = last_speech
    for position, i in enumerate(spoken):
        segment = segments[i]
        if is_anomalous(segment.words):
            following = segments[spoken[position + 1]] if position + 1 < len(spoken) else None
            next_start = following.words[0].start if following else offset + window_seconds
            silence_before = (
                segment.start - previous_end > threshold
                or segment.start < threshold
                or segment.start - offset < 2.0
            )
            silence_after = (
                next_start - segment.end > threshold
                or (following is not None and is_anomalous(following.words))
                or window_end - segment.end < 2.0
                or file_seconds - segment.end < threshold  # ours: the file's end is silent too
            )
            if silence_before and silence_after:
                seek = seconds_to_samples(max(offset + 1, segment.start))
                if file_seconds - segment.end < threshold:
                    seek = round(file_seconds * SAMPLE_RATE)
                kept = segments[:i]
                n_text = sum(len(s.tokens) for s in kept)
                return replace(
                    outcome, segments=kept, advance=seek - request.seek,
                    prompt_tokens=tokens_through(outcome.prompt_tokens, n_text, timestamp_begin),
                    skipped_hallucination=True,
                )  # fmt: skip
        previous_end = segment.end
    return replace(outcome, segments=segments, advance=advance)


def heard_seconds(pauses: list[tuple[int, int]], start: int, end: int) -> float:
    """Seconds of the samples start..end that the VAD calls speech (not in `pauses`, in time
    order: only those from the one before `start` on are read, not an hour's every pause for
    each of its segments)."""
    quiet, i = 0, max(bisect.bisect_left(pauses, (start,)) - 1, 0)
    while i < len(pauses) and pauses[i][0] < end:
        a, b = pauses[i]
        quiet += max(0, min(b, end) - max(a, start))
        i += 1
    return (end - start - quiet) / SAMPLE_RATE


# A segment that holds far fewer words than the speech the VAD hears in it has skipped some:
# base wrote "... This was a fountain set round with the rim of old" over 10.2 s of speech
# and dropped the 21 words after "old" (1.6 words a second where the speaker's segments run
# 3.5). Such a segment is decoded again, from its start, as the first of a new window. Of 446
# segments of 6 s or more on 24 gap recordings (base), the next thinnest ran at 0.54 of its
# speaker's rate. A window's first segment decoded again from the same place would come out
# the same, so when it is thin the window is decoded again without the previous text: base
# int8 wrote "When he came back, he was in a clump of trees and overturned." over 11.4 s
# under its prompt (log-prob -0.63), and without it "...happened to the hindmost sledge. The
# driver lost control. He was probably very drunk. The horses left the road..." (-0.21).
THIN_MIN_HEARD_S = 6.0
THIN_RATIO = 0.5  # of the median words per heard second of the file's (part's) segments
THIN_MIN_RATES = 3  # segments with 2 s of speech or more before the median counts


def cut_at_thin_segment(
    outcome: WindowOutcome,
    request: "WindowRequest",
    pauses: list[tuple[int, int]],
    rates: list[float],
    timestamp_begin: int,
) -> WindowOutcome:
    """The outcome, cut before its first thin segment, the seek moved to that segment's start;
    when that is the window's first segment and the window had a prompt, nothing is kept (the
    window is decoded again without the previous text, `_File.record`). `rates`: words per
    heard second of the segments so far (this window's are added)."""
    spans = [
        (round(s.start * SAMPLE_RATE), round(s.end * SAMPLE_RATE), word_count(s.text))
        for s in outcome.segments
    ]  # fmt: skip
    heard = [heard_seconds(pauses, a, b) for a, b, _ in spans]
    window_rates = [n / h for (_, _, n), h in zip(spans, heard) if h >= 2.0]
    if len(rates) + len(window_rates) < THIN_MIN_RATES:
        rates += window_rates
        return outcome
    typical = float(median(rates + window_rates))  # (NumPy's would import numpy.ma, 0.02 s)
    for i in range(0 if request.previous else 1, len(spans)):
        if heard[i] >= THIN_MIN_HEARD_S and spans[i][2] < THIN_RATIO * typical * heard[i]:
            if i == 0:  # the same window again, without the prompt
                return replace(outcome, segments=[], advance=0, prompt_tokens=[], thin=True)
            kept = outcome.segments[:i]
            rates += [n / h for (_, _, n), h in zip(spans[:i], heard) if h >= 2.0]
            return replace(
                outcome, segments=kept, advance=seconds_to_samples(kept[-1].end) - request.seek,
                prompt_tokens=tokens_through(
                    outcome.prompt_tokens, sum(len(s.tokens) for s in kept), timestamp_begin
                ),
                heard_to_the_end=False, thin=True,
            )  # fmt: skip
    rates += window_rates
    return outcome


def seconds_to_samples(seconds: float) -> int:
    """A time as a seek position: whole log-mel frames."""
    return round(seconds * SAMPLE_RATE / HOP_LENGTH) * HOP_LENGTH


def tokens_through(tokens: list[int], n_text: int, timestamp_begin: int) -> list[int]:
    """The prefix of a window's prompt tokens that holds its first `n_text` text tokens and the
    timestamp that closes them (the prompt of the segments kept)."""
    if n_text == 0:
        return []
    seen = 0
    for i, token in enumerate(tokens):
        if token < timestamp_begin:
            seen += 1
        elif seen >= n_text:
            return tokens[: i + 1]
    return tokens
