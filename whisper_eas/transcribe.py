"""From audio to segments: openai-whisper's sequential long-form algorithm, batched across
files, with the fallback and no-speech safeguards, and EAS per window.

One file, as openai-whisper's `transcribe` does it:
1. Take the 30 s window that starts at `seek` and decode it with timestamps, prompted with
   the text so far (<|startofprev|>, on by default; dropped after a hot fallback).
2. Fallback: a window whose decode looks broken (compression ratio > 2.4, average log-prob
   < -1.0; with EAS also a length-limit hit) is decoded again: first without EAS (when on),
   then at temperatures 0.2, 0.4, ..., 1.0. Silence (no-speech probability > 0.6 and average
   log-prob < -1.0) is skipped, not retried: it yields no text.
3. Keep the window's complete segments (a timestamp pair closes each) and move `seek` to the
   last complete segment's end, or past the whole window when none closed.
Several files are transcribed together: each batch row is one file's next window, and each
row keeps its own seek, prompt and fallbacks, so a file's result does not depend on the others.
A long file is cut at pauses into parts (`parts.py`), each a row of its own in the same way;
its segments are joined in time order. Before that, Silero VAD reads a file of more than one
window: stretches of 5 s or more without speech are taken out (the audio around them is
decoded joined, times map back), and text timed only into its pauses is dropped.

A batch of windows is encoded and decoded, with each row's fallbacks, in `windows.py`; a
decoded window becomes segments, and the checks on them run, in `segments.py`.
"""

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import numpy as np
import torch

from .audio import HOP_LENGTH, N_FRAMES, N_SAMPLES, SAMPLE_RATE, audio_name, load_audio
from .decoding import (
    MAX_INITIAL_TIMESTAMP,
    SECONDS_PER_TIMESTAMP,
    DecodingOptions,
    WhisperModel,
    checked_language,
)
from .parts import may_cut, split_points
from .segments import (
    REPEAT_LOOKBACK,
    Segment,
    WindowOutcome,
    advance_to_word_end,
    cut_at_thin_segment,
    drop_invented,
    drop_squeezed_repeats,
    heard_seconds,
    last_word_end,
    read_window,
    skip_hallucinations,
    split_at_joins,
)
from .sparsify import EASConfig, speech_tokens
from .timing import (
    APPEND_PUNCTUATION,
    PREPEND_PUNCTUATION,
    add_word_timestamps,
    confine_to_speech,
)
from .vad import (
    SpeechMap,
    VadOptions,
    filter_options,
    long_pauses,
    long_silences,
    pauses_of,
    speech_frames,
    speech_map,
    without_long_pauses,
)
from .windows import (
    DETECT,
    TEMPERATURES,
    Attempt,
    Safeguards,
    Window,
    WindowRequest,
    decode_windows,
    file_mel,
    with_openai_options,
)

AudioInput = str | Path | BinaryIO | np.ndarray | torch.Tensor
# A later part of a file whose language is to be detected: its first part's first window
# detects it, in the same batch, instead of an encoder pass of its own (one window of base's
# ~7 on a 3-4 minute recording cut into 7 parts).
FIRST_PART = "<first part>"
# Stretches of this many seconds or more in which Silero VAD hears no speech (long silences,
# noise, music) are not decoded: the decoder reads the audio around them joined, as
# faster-whisper's vad_filter does for every pause of 2 s, and times map back to the file.
# Seen in a window, such a stretch made the model skip or repeat the sentence beside it. On 40
# recordings with 8-20 s gaps: WER tiny.en 5.92 -> 5.88 %, base 5.08 -> 5.01 %, 1.15-1.17x
# faster (`benchmarks/skip_silence.py`, docs/gaps.md).
# Natural pauses stay: no pause of dev-clean's 28 long recordings reaches 5 s.
SKIP_SILENCE_S = 5.0
# In a recording that may be cut into parts (parts.may_cut), every pause of this many seconds
# or more is shortened too, to 2 x SKIP_PAD_S, as faster-whisper's batched chunks shorten
# theirs: its windows hold ~10 % more speech (12 long recordings: 125 -> 110 windows). A
# segment may span a shortened pause (its times map back whole); only a skipped stretch splits
# one. One process taking turns (2026-12-02, AVX2 EPYC), 1.01-1.14x faster; WER on 12 of
# data/long tiny.en float32 4.86 -> 4.90 %, int8 4.87 -> 5.04; base float32 4.57 -> 4.33, int8
# 4.62 -> 4.66. tiny.en lost 0.04-0.2 point on every set, base gained in float32 on the long
# recordings and lost 0.28 on the gap recordings (docs/long_recordings.md "Shortened pauses").
# With it our int8 passed faster-whisper's batched int8 on this CPU (1.07x / 1.03x, longform.py).
SHORTEN_PAUSES_S = 1.0
# The last window of a part (or of a file) often ends its text right after a segment's start
# timestamp, as at a full window's edge, though the VAD hears seconds of speech after it; the
# seek then stops there and the rest, 4-7 s, costs one more window (a whole encoder pass): 22
# of 57 parts of 12 long recordings had such a window (tiny.en). In such a window the end of text
# is not allowed right after a segment start (or end: decoding.HOLD_CLOSED_END) lying
# END_MARGIN_S or more before the VAD's last speech in it: the model transcribes the rest in the
# same window.
END_MARGIN_S = 1.0
# What is left of a part or a file after a window is not decoded when the VAD hears less than
# this much speech in it (counted as a no-speech window): a 0.1 s rest had decoded as a loop of
# the sentence before it, 12 s of trailing silence as one more copy of it.
TAIL_MIN_HEARD_S = 0.2
SKIP_PAD_S = 0.4  # of each skipped stretch kept beside the speech (faster-whisper's padding)


@dataclass
class Transcription:
    text: str
    segments: list[Segment]
    language: str | None
    duration: float  # seconds of audio
    windows: int  # 30 s windows decoded
    kept_tokens: list[int] = field(default_factory=list)  # audio tokens kept per window
    fallbacks: dict[str, int] = field(default_factory=dict)  # how often each safeguard fired
    error: str | None = None  # why an input of a list could not be transcribed (else None)
    language_probability: float | None = None  # when the language was detected, not given
    parts: int = 1  # rows the recording was cut into at pauses (`parts.py`)

    @classmethod
    def failed(cls, error: str) -> "Transcription":
        return cls(text="", segments=[], language=None, duration=0.0, windows=0, error=error)

    @classmethod
    def silent(cls, duration: float) -> "Transcription":
        """A file in which the VAD found no speech (`vad_filter`): nothing was decoded."""
        return cls("", [], None, duration, 0, fallbacks={"no_speech": 1})

    @property
    def tokens(self) -> list[int]:
        return [token for segment in self.segments for token in segment.tokens]

    @property
    def hit_max_length(self) -> int:
        return self.fallbacks.get("hit_max_length", 0)


# Samples are in [-1, 1], so a waveform's RMS is at most 1 (a full-scale square wave); speech
# sits at 0.03-0.15. Integer PCM stored as floats is thousands of times louder, and the log-mel
# of audio even 100x too loud decodes as invented text: jfk.flac (RMS 0.14) at 30x still read
# right, at 100x "And not Like your country", at 32768x "By".
LOUDEST_RMS = 4.0


def waveform_of(audio: AudioInput) -> np.ndarray:
    """A file path or an open binary file (decoded), or a mono float waveform at 16 kHz,
    checked."""
    if isinstance(audio, (str, Path)) or hasattr(audio, "read"):
        return finite(load_audio(audio), f"audio file {audio_name(audio)}")
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().cpu().numpy()
    if not isinstance(audio, np.ndarray):
        raise TypeError(
            "audio must be a file path, an open binary file or a mono 16 kHz float waveform, "
            f"got {type(audio).__name__}"
        )
    if audio.ndim != 1:
        raise ValueError(f"expected a mono 16 kHz waveform (1-D), got shape {audio.shape}")
    if audio.dtype not in (np.float32, np.float64):
        raise ValueError(
            f"expected a float32 or float64 waveform in [-1, 1] at 16 kHz, got dtype {audio.dtype} "
            "(convert integer PCM first, e.g. samples / 32768 for int16)"
        )
    if audio.size == 0:
        raise ValueError("empty audio: the waveform has no samples")
    waveform = finite(audio.astype(np.float32, copy=False), "the waveform")
    # (A file needs no such check: it is decoded to 16-bit samples, as FFmpeg does.)
    rms = math.sqrt(float(np.dot(waveform, waveform)) / len(waveform))
    if rms > LOUDEST_RMS:
        raise ValueError(
            f"the waveform is far louder than audio in [-1, 1] can be (RMS {rms:.1f}, peak "
            f"{float(np.abs(waveform).max()):.1f}): integer PCM stored as floats? Divide it by "
            "32768 (int16) or 2147483648 (int32) first"
        )
    return waveform


def finite(waveform: np.ndarray, what: str) -> np.ndarray:
    """The waveform, if every sample is a number: a NaN or an infinity would reach the
    decoder's softmax and fail there, far from its cause."""
    bad = ~np.isfinite(waveform)
    if bad.any():
        first = int(bad.argmax())
        raise ValueError(
            f"{what} has {int(bad.sum())} samples that are NaN or infinite (the first at "
            f"{first / SAMPLE_RATE:.2f} s)"
        )
    return waveform


@dataclass
class _File:
    """One file's long-form state."""

    index: int
    n_samples: int  # of the audio decoded (the waveform itself is not kept: its mel is)
    mel: torch.Tensor  # (n_mels, frames) of the whole file, 30 s of zeros appended
    language: str | None = None
    seek: int = 0  # samples
    segments: list[Segment] = field(default_factory=list)
    history: list[int] = field(default_factory=list)  # tokens for the <|startofprev|> prompt
    prompt_start: int = 0  # history before this index is not used (reset after hot fallbacks)
    kept: list[int] = field(default_factory=list)
    fallbacks: Counter = field(default_factory=Counter)
    last_speech: float = 0.0  # seconds: where the last word ended (word timestamps)
    speech: SpeechMap | None = None  # vad_filter: the speech regions `waveform` joins
    voiced_frames: np.ndarray | None = None  # EAS `vad`: per log-mel frame, heard as speech
    language_probability: float | None = None  # of the detected language
    duration: int | None = None  # vad_filter: the file's own length in samples
    clips: list[tuple[int, int]] | None = None  # clip_timestamps or a part: spans to decode
    prefixed: bool = True  # the next window is the file's first: a prefix applies
    released: int = 0  # segments already handed out (in time order, with the other parts')
    pauses: list[tuple[int, int]] | None = None  # vad_check: the VAD's (samples)
    silences: list[tuple[float, float]] = field(default_factory=list)  # vad_check: seconds
    rates: list[float] = field(default_factory=list)  # vad_check: words per heard second
    dense: bool = False  # the next window is encoded without EAS (see `record`)

    def clip_end(self) -> int:
        """Where the current window must stop: its clip's end, else the file's."""
        for start, end in self.clips or []:
            if start <= self.seek < end:
                return end
        return self.n_samples

    def enter_clip(self) -> None:
        """With clip_timestamps, move the seek into the next clip (past the last: done)."""
        if self.clips is None:
            return
        for start, end in self.clips:
            if self.seek < end:
                self.seek = max(self.seek, start)
                return
        self.seek = self.n_samples

    def window(self) -> Window:
        frame = self.seek // HOP_LENGTH  # seek moves in whole timestamps (320 samples)
        limit = self.clip_end()
        n_samples = min(N_SAMPLES, limit - self.seek)
        mel = self.mel[:, frame : frame + N_FRAMES]
        if n_samples < N_SAMPLES and (self.seek > 0 or limit < self.n_samples):
            # A later window that runs past the end: openai-whisper and faster-whisper pad its
            # log-mel with zeros after the audio's frames, not with the mel of silence. On our
            # long recordings this decides a phrase at the very end (base: 6.27 -> 6.17 % WER,
            # faster-whisper's). A file's only window keeps the padded waveform's mel, which is
            # what transformers computes and what the EAS search measured.
            # (A clip's window is cut at the clip's end the same way.)
            content = limit // HOP_LENGTH - frame
            mel = torch.cat([mel[:, :content], mel.new_zeros(mel.shape[0], N_FRAMES - content)], 1)
        voiced = None
        if self.voiced_frames is not None:  # two frames per audio token; none past the end
            frames = np.zeros(N_FRAMES, dtype=bool)
            heard = self.voiced_frames[frame : frame + N_FRAMES]
            frames[: len(heard)] = heard
            voiced = torch.from_numpy(frames.reshape(-1, 2).any(axis=1))
        return Window(mel, n_samples, voiced)

    def request(self) -> "WindowRequest":
        window = self.window()
        return WindowRequest(
            window, self.seek, self.history[self.prompt_start :], self.language, self.prefixed,
            self.speech_seconds(window.n_samples), self.speech_until(window.n_samples), self.dense,
        )  # fmt: skip

    def speech_seconds(self, n_samples: int) -> float | None:
        """Seconds of the next n_samples the VAD calls speech (None: no VAD pass)."""
        if self.pauses is None:
            return None
        return heard_seconds(self.pauses, self.seek, self.seek + n_samples)

    def speech_until(self, n_samples: int) -> int | None:
        """For a window that reaches its clip's (or file's) end: where the VAD's last speech in
        it ends, less END_MARGIN_S, in timestamps from the window's start; the text may not end
        on a segment start before it (None: no such window, or no VAD pass)."""
        end = self.seek + n_samples
        if self.pauses is None or end < self.clip_end():
            return None
        speech_end = end
        for a, b in self.pauses:  # the pause the window ends in, if any
            if a < end <= b:
                speech_end = max(a, self.seek)
        reach = (speech_end - self.seek) / SAMPLE_RATE - END_MARGIN_S
        return round(reach / SECONDS_PER_TIMESTAMP) if reach > 0 else None

    def record(self, attempt: "Attempt", outcome: "WindowOutcome") -> None:
        """Add a decoded window's outcome and move the seek (past a rest without speech)."""
        self.language = attempt.result.language
        self.prefixed = False
        if attempt.result.language_probability is not None:  # the window it was detected on
            self.language_probability = attempt.result.language_probability
        self.kept.append(attempt.audio.kept_counts()[0])
        if attempt.fallback is not None:
            self.fallbacks[attempt.fallback] += 1
        if attempt.result.hit_max_length:
            self.fallbacks["hit_max_length"] += 1
        if outcome.silence:
            self.fallbacks["no_speech"] += 1
        if outcome.skipped_hallucination:
            self.fallbacks["hallucination"] += 1
        # A sparsified window that skipped speech is decoded again from there without EAS:
        # with it, tiny.en skipped the same 20 words twice (data/gaps_music 1673-143397).
        self.dense = outcome.thin and self.kept[-1] < N_FRAMES // 2  # of 1500 audio tokens
        if outcome.thin:
            self.fallbacks["thin"] += 1
            if not outcome.segments:  # its first segment: decoded again without the prompt
                self.prompt_start = len(self.history)
        if outcome.implausible:
            self.fallbacks["implausible"] += 1
        kept = drop_squeezed_repeats(outcome.segments, self.segments[-REPEAT_LOOKBACK:])
        if len(kept) < len(outcome.segments):
            self.fallbacks["repeat"] += len(outcome.segments) - len(kept)
            outcome.segments = kept
        if self.pauses is not None:  # vad_check
            heard = drop_invented(outcome.segments)
            if len(heard) < len(outcome.segments):
                self.fallbacks["invented"] += len(outcome.segments) - len(heard)
            outcome.segments = heard
        if self.silences:
            heard = confine_to_speech(outcome.segments, self.silences)
            if len(heard) < len(outcome.segments):
                self.fallbacks["not_speech"] += len(outcome.segments) - len(heard)
            outcome.segments = heard
        if self.speech is not None:  # times in the joined speech -> times in the file
            for segment in outcome.segments:
                segment.start, segment.end = self.speech.original(segment.start, segment.end)
                for word in segment.words:
                    word.start, word.end = self.speech.original(word.start, word.end, word=True)
        self.segments += outcome.segments
        self.history += outcome.prompt_tokens  # as openai-whisper: the complete segments only
        self.seek += outcome.advance
        rest = self.clip_end() - self.seek
        if self.pauses is not None and 0 < rest and self.speech_seconds(rest) < TAIL_MIN_HEARD_S:
            outcome.advance += rest  # no speech left: not decoded
            self.seek += rest
            self.fallbacks["no_speech"] += 1
        self.enter_clip()

    @property
    def done(self) -> bool:
        return self.seek >= self.n_samples


@dataclass
class _Recording:
    """One input, decoded as one or more parts (`parts.py`), each a `_File` row of its own."""

    index: int
    parts: list[_File]
    segments: list[Segment] = field(default_factory=list)  # handed out so far, in time order

    def release(self) -> list[Segment]:
        """The segments decoded since the last call that can be handed out in time order: a
        part's wait until every part before it is done. They are numbered here."""
        new = []
        for part in self.parts:
            new += part.segments[part.released :]
            part.released = len(part.segments)
            if not part.done:
                break
        for number, segment in enumerate(new, start=len(self.segments)):
            segment.id = number
        self.segments += new
        return new

    @property
    def done(self) -> bool:
        return all(part.done for part in self.parts)

    def result(self) -> Transcription:
        first = self.parts[0]
        samples = first.duration if first.duration is not None else first.n_samples
        return Transcription(
            text=" ".join(s.text for s in self.segments if s.text),
            segments=self.segments,
            language=first.language,
            language_probability=first.language_probability,
            duration=samples / SAMPLE_RATE,
            windows=sum(len(part.kept) for part in self.parts),
            kept_tokens=[k for part in self.parts for k in part.kept],
            fallbacks=dict(sum((part.fallbacks for part in self.parts), Counter())),
            parts=len(self.parts),
        )


def transcribe_files(
    model: WhisperModel,
    inputs: list[AudioInput],
    *,
    on_segments: Callable[[int, list[Segment]], None] | None = None,
    **options,
) -> Iterator[tuple[int, Transcription]]:
    """Yield (input index, Transcription) as each input finishes (batched long-form). A file is
    read when its row starts; one that cannot be read yields a Transcription with its `error`
    and the others go on. `on_segments(index, segments)` hears each window's segments as soon
    as they are decoded (in the file's time, as in the result). `options`: `long_form`'s."""
    for index, segments, result in long_form(model, inputs, **options):
        if result is not None:
            yield index, result
        elif on_segments is not None:
            on_segments(index, segments)


def long_form(
    model: WhisperModel,
    inputs: list[AudioInput],
    *,
    eas: EASConfig | None = None,
    options: DecodingOptions = DecodingOptions(timestamps=True),
    condition_on_previous_text: bool = True,
    initial_prompt: str | None = None,
    safeguards: Safeguards = Safeguards(),
    word_timestamps: bool = False,
    prepend_punctuations: str = PREPEND_PUNCTUATION,
    append_punctuations: str = APPEND_PUNCTUATION,
    backends="sdpa",
    batch_size: int = 8,
    progress: Callable[[float], None] | None = None,
    vad_filter: bool = False,
    vad_parameters: VadOptions | dict | None = None,
    hallucination_silence_threshold: float | None = None,
    clip_timestamps: str | list[float] | None = None,
    max_parts: int | None = None,
    vad_check: bool = True,
    skip_silence: float | None = SKIP_SILENCE_S,
) -> Iterator[tuple[int, list[Segment] | None, Transcription | None]]:
    """The batched long-form loop. Each row of a batch is a part of a file (`parts.py`; a
    whole file when it has no cut). Yields (index, segments, None) whenever input `index` has
    new segments, in time order (a part's wait for the parts before it), and
    (index, None, Transcription) when the input is done."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if max_parts is not None and max_parts < 1:
        raise ValueError(f"max_parts must be >= 1, got {max_parts}")
    if skip_silence is not None and skip_silence < 2 * SKIP_PAD_S:
        raise ValueError(
            f"skip_silence must be at least {2 * SKIP_PAD_S} seconds (or None), got {skip_silence}"
        )
    if hallucination_silence_threshold is not None and hallucination_silence_threshold <= 0:
        raise ValueError(
            f"hallucination_silence_threshold must be > 0 seconds, got "
            f"{hallucination_silence_threshold}"
        )
    word_timestamps = word_timestamps or hallucination_silence_threshold is not None
    if vad_parameters is not None and not vad_filter:
        raise ValueError("vad_parameters are vad_filter's settings: pass vad_filter=True too")
    speech_options = filter_options(vad_parameters) if vad_filter else None
    clip_seconds = parse_clips(clip_timestamps)
    if clip_seconds is not None and vad_filter:
        raise ValueError("clip_timestamps and vad_filter cannot be combined")
    tokenizer = model.tokenizer
    initial = tokenizer.encode(" " + initial_prompt.strip()) if initial_prompt else []
    language = file_language(model, options)
    # Beam search decodes each file whole: cut into parts, tiny.en's beam 5 was slower (its
    # 5 beams x 4-6 parts made 20-30 rows a step) and lost its accuracy gain (README).
    whole = batch_size == 1 or clip_seconds is not None or options.beam_size is not None
    max_parts = 1 if whole else max_parts
    # The kernels of a step follow the setting, never the rows beside a file: `batch_size=1`
    # decodes one row at a time, and its steps take the kernels fastest for one row (the
    # output projection's screen, MKL's products; `DecodingOptions.one_row`).
    options = replace(options, one_row=batch_size == 1)
    queue, waiting, rows = list(range(len(inputs))), [], []
    recordings: dict[int, _Recording] = {}
    while queue or waiting or rows:
        while len(rows) < batch_size and (waiting or queue):
            if waiting:  # the parts of a recording already read come first
                rows.append(waiting.pop(0))
                continue
            index = queue.pop(0)
            opened = open_recording(
                index, inputs[index], model, language=language, initial=initial, eas=eas,
                vad_filter=speech_options, vad_check=vad_check, skip_silence=skip_silence,
                clip_seconds=clip_seconds, max_parts=max_parts, progress=progress,
            )  # fmt: skip
            if isinstance(opened, Transcription):  # unreadable, or nothing to decode
                yield index, None, opened
                continue
            recordings[index] = _Recording(index, opened)
            waiting += opened
        if not rows:
            break
        requests = [state.request() for state in rows]
        for request, state in zip(requests, rows):
            if state.language == FIRST_PART:  # its file's language: detected by its first part
                first = recordings[state.index].parts[0]  # (in this batch, or an earlier one)
                if first.language == DETECT:
                    request.language_of = next(i for i, row in enumerate(rows) if row is first)
                else:
                    request.language = first.language
        # Word timing reads each window's cross K/V again: kept from its decode. Only then:
        # held through a round without words, they made base 4 % slower (docs/tried.md).
        attempts = decode_windows(
            model, requests, options, eas, safeguards, backends, keep_cross_kv=word_timestamps
        )
        for state, request, attempt in zip(rows, requests, attempts):
            outcome = checked_window(
                model, state, request, attempt, options=options, safeguards=safeguards,
                word_timestamps=word_timestamps,
                hallucination_silence_threshold=hallucination_silence_threshold,
                punctuation=(prepend_punctuations, append_punctuations),
            )  # fmt: skip
            state.record(attempt, outcome)
            reset = safeguards.prompt_reset_on_temperature
            if not condition_on_previous_text or attempt.result.temperature > reset:
                state.prompt_start = len(state.history)
            if progress is not None:
                progress(outcome.advance / SAMPLE_RATE)
        # The round's cross K/V go with its attempts, before the next round projects its own.
        del attempts, attempt
        rows = [state for state in rows if not state.done]
        for recording in list(recordings.values()):
            if segments := recording.release():
                yield recording.index, segments, None
            if recording.done:
                del recordings[recording.index]
                yield recording.index, None, recording.result()


def audio_to_decode(
    pauses: list[tuple[int, int]], n_samples: int, skip_silence: float, max_parts: int | None
) -> SpeechMap | None:
    """What is decoded of a recording with these VAD `pauses` (None: all of it): its pauses of
    `skip_silence` or more skipped and, where it may be cut into parts, its pauses of
    SHORTEN_PAUSES_S or more shortened too."""
    shortest = skip_silence
    if may_cut(n_samples, max_parts):
        shortest = min(skip_silence, SHORTEN_PAUSES_S)
    return without_long_pauses(pauses, n_samples, shortest, SKIP_PAD_S, gap_seconds=skip_silence)


def open_recording(
    index: int,
    audio: AudioInput,
    model: WhisperModel,
    *,
    language: str | None,
    initial: list[int],
    eas: EASConfig | None,
    vad_filter: VadOptions | None,
    vad_check: bool,
    skip_silence: float | None,
    clip_seconds: list[float] | None,
    max_parts: int | None,
    progress: Callable[[float], None] | None,
) -> "list[_File] | Transcription":
    """Input `index`'s rows: its audio read, then read by the VAD (the speech `vad_filter`
    keeps, or the long pauses skipped), its log-mel, and its parts (`parts.py`), each with the
    file's language; or its result when it cannot be read (its error) or there is nothing to
    decode (no speech, or every clip after the audio's end). The rows keep the log-mel, not the
    waveform: an hour's (230 MB, and as much for the audio joined) is freed before they decode."""
    try:
        waveform = waveform_of(audio)
    except (OSError, ValueError) as error:
        return Transcription.failed(str(error))
    heard, skipped = None if vad_filter is None else speech_map(waveform, vad_filter), 0
    pauses = None  # the VAD's: found once, for the check, the skipped silences and the
    # cuts. A short clip is read too: without it, 20 s of music-like tones decoded as
    # "Thank you." (base); it costs ~1 % of a short clip's time (dev-clean, docs/gaps.md).
    if vad_check and heard is None:
        pauses = pauses_of(waveform)
        if skip_silence is not None and clip_seconds is None:
            heard = audio_to_decode(pauses, len(waveform), skip_silence, max_parts)
            skipped = len(long_pauses(pauses, skip_silence))
    if heard is not None:
        duration, waveform = len(waveform), heard.join(waveform)
        if len(waveform) == 0:  # no speech at all: nothing to decode
            return Transcription.silent(duration / SAMPLE_RATE)
        if progress is not None:  # the skipped audio counts as done
            progress((duration - len(waveform)) / SAMPLE_RATE)
        if pauses is not None:  # the check reads the pauses of what is decoded
            pauses = heard.joined_pauses(pauses)
    state = _File(index, len(waveform), file_mel(waveform, model.dims.n_mels), language)
    state.history = list(initial)
    if eas is not None and eas.vad is not None:
        state.voiced_frames = speech_frames(waveform, eas.vad)
    if heard is not None:
        state.speech, state.duration = heard, duration
    if clip_seconds is not None:
        state.clips = clips_in_samples(clip_seconds, len(waveform))
        state.enter_clip()
        if state.done:  # every clip starts after the audio's end
            return _Recording(index, [state]).result()
    if pauses is not None:
        state.pauses, state.silences = pauses, long_silences(pauses)
    parts = parts_of(state, split_points(waveform, max_parts, pauses))
    if skipped:
        parts[0].fallbacks["skipped_silence"] = skipped
    if language == DETECT:  # the first part's first window detects it for every part
        for part in parts[1:]:
            part.language = FIRST_PART
    return parts


def checked_window(
    model: WhisperModel,
    state: "_File",
    request: WindowRequest,
    attempt: Attempt,
    *,
    options: DecodingOptions,
    safeguards: Safeguards,
    word_timestamps: bool,
    hallucination_silence_threshold: float | None,
    punctuation: tuple[str, str] = (PREPEND_PUNCTUATION, APPEND_PUNCTUATION),
) -> WindowOutcome:
    """A decoded window's outcome after the rules that read its words: word times (and the seek
    from the last word), the hallucination-silence rule, a thin segment decoded again, and no
    segment across a join of the skipped audio. Moves `state.last_speech`; the caller records
    the outcome."""
    tokenizer = model.tokenizer
    outcome = read_window(
        attempt, request.window, request.seek,
        model=model, safeguards=safeguards, timestamps=options.timestamps,
        heard=request.heard,
    )  # fmt: skip
    # A segment that runs over a join of the skipped audio is cut there by its words,
    # aligned for that even when the caller asked for none.
    crossing = state.speech is not None and any(
        state.speech.crosses(s.start, s.end) for s in outcome.segments
    )
    if (word_timestamps or crossing) and outcome.segments:
        decoded = [(s.start, s.end) for s in outcome.segments]
        prompt = tokenizer.sot_sequence(attempt.result.language, options.task, False)
        speech_end = add_word_timestamps(
            model, attempt.audio, prompt, outcome.segments, request.seek / SAMPLE_RATE,
            speech_tokens(request.window.n_samples), state.last_speech, attempt.cross_kv,
            punctuation, attempt.result.language,
        )  # fmt: skip
    if crossing and not word_timestamps:
        for segment, (start, end) in zip(outcome.segments, decoded):
            if not state.speech.crosses(start, end):  # keeps its decoded times
                segment.start, segment.end, segment.words = start, end, []
    if word_timestamps and outcome.segments:
        if not outcome.heard_to_the_end:  # as openai-whisper: go on from the last word
            outcome.advance = advance_to_word_end(outcome, request.seek, state.pauses)
        if hallucination_silence_threshold is not None:
            outcome = skip_hallucinations(
                outcome, request, hallucination_silence_threshold, state.last_speech,
                file_seconds=state.n_samples / SAMPLE_RATE,
                timestamp_begin=tokenizer.timestamp_begin,
            )  # fmt: skip
            speech_end = last_word_end(outcome.segments) or state.last_speech
        state.last_speech = speech_end
    if state.pauses is not None and outcome.segments:  # vad_check
        outcome = cut_at_thin_segment(
            outcome, request, state.pauses, state.rates, tokenizer.timestamp_begin
        )
        if outcome.thin and word_timestamps and outcome.segments:
            state.last_speech = last_word_end(outcome.segments)
    if state.speech is not None:
        outcome.segments = split_at_joins(outcome.segments, state.speech, tokenizer.decode)
        if crossing and not word_timestamps:
            for segment in outcome.segments:
                segment.words = []
    return outcome


def parts_of(state: "_File", cuts: list[int]) -> list["_File"]:
    """A recording's rows: itself when it has no cut, else one `_File` per part, sharing its
    log-mel, each confined to its span as a clip and starting with the prompt."""
    if not cuts:
        return [state]
    bounds = [0, *cuts, state.n_samples]
    return [
        replace(
            state,
            seek=start,
            clips=[(start, end)],
            history=list(state.history),
            last_speech=start / SAMPLE_RATE,
            prefixed=start == 0,
            fallbacks=Counter(),
            segments=[],
            kept=[],
            rates=[],
        )
        for start, end in zip(bounds, bounds[1:])
    ]


def parse_clips(clip_timestamps: str | list[float] | None) -> list[float] | None:
    """openai-whisper's clip_timestamps: "start,end,start,end,..." in seconds (or a list); an
    odd count leaves the last clip open to the file's end. None or "0": the whole file."""
    if clip_timestamps is None:
        return None
    if isinstance(clip_timestamps, str):
        try:
            clip_timestamps = [float(t) for t in clip_timestamps.split(",") if t.strip()]
        except ValueError:
            raise ValueError(
                f"clip_timestamps must be seconds separated by commas, got {clip_timestamps!r}"
            ) from None
    times = [float(t) for t in clip_timestamps]
    if times in ([], [0.0]):
        return None
    if any(t < 0 for t in times) or times != sorted(times):
        raise ValueError(f"clip_timestamps must be increasing and >= 0, got {times}")
    return times


def clips_in_samples(times: list[float], n_samples: int) -> list[tuple[int, int]]:
    """Clip (start, end) pairs in samples within a file of n_samples; empty clips dropped."""
    ends = times[1::2] + ([n_samples / SAMPLE_RATE] if len(times) % 2 else [])
    pairs = [(round(a * SAMPLE_RATE), min(round(b * SAMPLE_RATE), n_samples))
             for a, b in zip(times[0::2], ends)]  # fmt: skip
    return [(a, b) for a, b in pairs if a < b]


def file_language(model: WhisperModel, options: DecodingOptions) -> str | None:
    """The file's language: given, None for English-only models, else DETECT: detected once,
    from its first window (as openai-whisper), reusing that window's encoder output."""
    language = checked_language(model, options.language, options.task)
    return DETECT if model.tokenizer.multilingual and language is None else language


def carried_prompt(
    initial_prompt: str | None, hotwords: str | None, carry_initial_prompt: bool
) -> tuple[str | None, str | None]:
    """(initial prompt, hotwords). openai-whisper's `carry_initial_prompt` puts the initial
    prompt in every window's prompt: as the hotwords (faster-whisper's layout, before the
    previous text), and not also as the text before the first window, where it would stand
    twice (openai-whisper keeps it once)."""
    if not carry_initial_prompt:
        return initial_prompt, hotwords
    if hotwords is not None:
        raise ValueError("give hotwords or carry_initial_prompt, not both")
    if initial_prompt is None:
        raise ValueError("carry_initial_prompt needs an initial_prompt")
    return None, initial_prompt


def transcribe(
    model: WhisperModel,
    audio: AudioInput | list[AudioInput],
    *,
    eas: EASConfig | None = None,
    language: str | None = None,
    task: str = "transcribe",
    timestamps: bool = True,
    condition_on_previous_text: bool = True,
    initial_prompt: str | None = None,
    carry_initial_prompt: bool = False,
    temperature: float | tuple[float, ...] = TEMPERATURES,
    compression_ratio_threshold: float | None = Safeguards.compression_ratio_threshold,
    logprob_threshold: float | None = Safeguards.logprob_threshold,
    no_speech_threshold: float | None = Safeguards.no_speech_threshold,
    prompt_reset_on_temperature: float = Safeguards.prompt_reset_on_temperature,
    safeguards: Safeguards | None = None,
    word_timestamps: bool = False,
    prepend_punctuations: str = PREPEND_PUNCTUATION,
    append_punctuations: str = APPEND_PUNCTUATION,
    max_new_tokens: int | None = None,
    backends="sdpa",
    batch_size: int = 8,
    vad_filter: bool = False,
    vad_parameters: VadOptions | dict | None = None,
    hallucination_silence_threshold: float | None = None,
    clip_timestamps: str | list[float] | None = None,
    hotwords: str | None = None,
    beam_size: int | None = None,
    patience: float | None = None,
    length_penalty: float | None = None,
    best_of: int | None = 5,
    suppress_tokens: str | tuple[int, ...] = (-1,),
    suppress_blank: bool = True,
    prefix: str | None = None,
    repetition_penalty: float = 1.0,
    no_repeat_ngram_size: int = 0,
    max_initial_timestamp: float | None = MAX_INITIAL_TIMESTAMP,
    max_parts: int | None = None,
    vad_check: bool = True,
    skip_silence: float | None = SKIP_SILENCE_S,
) -> Transcription | list[Transcription]:
    """Transcribe a file, a waveform (mono float32 at 16 kHz), or a list of them (batched).

    `timestamps=False` decodes without timestamp tokens, one segment per window: fixed 30 s
    windows (openai-whisper's), or in a recording cut into parts one window a part, which ends
    at a pause (faster-whisper's batched pipeline decodes so). A file's result does not
    depend on the other files of its batch (to the last bit on the CPU; on CUDA the decoder's
    last bits can, its tokens held on the tests' files), nor on `batch_size` beyond 1: a 30 s
    recording or longer is cut at pauses into parts of one window each (at most `max_parts`,
    if given; its pauses shortened, below) decoded side by side (`parts.py`; `batch_size=1` or
    `max_parts=1` decodes it whole, openai-whisper's sequential algorithm, as does beam
    search). In a list, a file that cannot be read gets a Transcription whose
    `error` says why; the others go on.
    `eas` enables Early Attentive Sparsification (`EASConfig.recommended(name)`); `backends`
    is the encoder's attention backend, one string or one per block. `vad_filter` decodes only
    the speech Silero VAD finds (faster-whisper's `vad_filter`: pauses of 2 s or more are cut,
    400 ms kept around speech) and maps every time back to the file; `vad_parameters` changes
    those settings, a dict in faster-whisper's names (`{"min_silence_duration_ms": 500}`;
    `vad.filter_options`) or a `vad.VadOptions`.
    `carry_initial_prompt` puts `initial_prompt` in every window's prompt (openai-whisper's;
    as the `hotwords`). `temperature` (the first decode's, then each retry's),
    `compression_ratio_threshold`, `logprob_threshold` and `no_speech_threshold` are
    openai-whisper's, with its defaults (None turns a rule off), and so is the temperature
    above which a window's text is not the next window's prompt
    (`prompt_reset_on_temperature`, faster-whisper's name); `safeguards` holds them and our
    further rules (`windows.Safeguards`), for one or the other way of giving them, not both.
    With `word_timestamps`, a word made of `prepend_punctuations` marks joins the next word and
    one of `append_punctuations` the previous (openai-whisper's and faster-whisper's options,
    their defaults). `hallucination_silence_threshold` (seconds; turns word timing on) drops
    text that looks invented between silences longer than that and seeks past the silence
    (openai-whisper's option; see `skip_hallucinations`); counted as the `hallucination`
    fallback. `hotwords`: words hinted in every window's prompt, before the previous text
    (faster-whisper's). `beam_size` (with `patience`, `length_penalty`): beam search for
    the decodes at temperature 0; `best_of` (openai-whisper's, 5 by default as theirs and
    faster-whisper's) draws that many candidates for each sampled decode and keeps the
    likeliest. `clip_timestamps` ("start,end,..." seconds, openai-whisper's) decodes
    only those spans: no window reaches past its clip's end. `suppress_tokens` (token ids, or
    openai-whisper's "-1,..." string; -1 is the checkpoint's list of non-speech symbols) are
    never emitted; `suppress_blank` keeps a blank or end-of-text from being the first token.
    `prefix`: text the file's first window must start with, part of the result (then decoded
    on from it; faster-whisper's, which also drops the hotwords from that window's prompt).
    `repetition_penalty` (over 1: a token already in the window is less likely) and
    `no_repeat_ngram_size` (n > 0: no n-gram twice in a window) are faster-whisper's
    (CTranslate2's rules, `decoding.penalized`); off by default, as theirs.
    `max_initial_timestamp`: the latest a window's first timestamp may be, in seconds
    (openai-whisper's and faster-whisper's 1.0; None: anywhere).
    `vad_check` (on; off with vad_filter, which decodes speech only): Silero VAD's pauses of
    2 s or more (speech heard for under 0.25 s beside one is part of it: a note's attack) are
    checked against the text: words timed into one are moved to its edge, and
    a segment heard only there is dropped (`timing.confine_to_speech`; counted as the
    `not_speech` fallback); a file in which it hears no speech at all, short or long, keeps no
    text (counted as `no_speech`); with word timestamps, a segment whose words look invented
    in a window that the model doubts holds speech is dropped (`segments.drop_invented`,
    counted as `invented`). With it, stretches of
    `skip_silence` seconds (5) or more without speech are not decoded: the audio around them
    is decoded joined (0.4 s of each kept) and times map back to the file; counted as the
    `skipped_silence` fallback (None: decode them); a segment that runs over such a stretch is
    cut there into one segment per side. In a file that may be cut into parts, every pause of
    `SHORTEN_PAUSES_S` (1 s) or more is decoded as 0.8 s too (times map back; not with
    `skip_silence=None`). The check also redoes a window from a segment that
    holds fewer than half the words its speech should at the file's pace (the `thin` fallback).
    """
    if isinstance(audio, tuple):
        raise TypeError("pass several inputs as a list, not a tuple")
    if isinstance(audio, list) and audio and all(isinstance(x, (int, float)) for x in audio):
        raise TypeError(
            "a list is several inputs, and these are numbers: pass one waveform as a NumPy "
            "array or a tensor (mono, 16 kHz, float in [-1, 1])"
        )
    if eas is not None and not isinstance(eas, EASConfig):
        raise TypeError(f"eas must be an EASConfig (e.g. EASConfig(2, TopK(0.5))), got {eas!r}")
    if not isinstance(model, WhisperModel):
        raise TypeError("transcribe needs the WhisperModel that load_model returns")
    initial_prompt, hotwords = carried_prompt(initial_prompt, hotwords, carry_initial_prompt)
    options = DecodingOptions(
        task=task, language=language, timestamps=timestamps, max_new_tokens=max_new_tokens,
        hotwords=hotwords, beam_size=beam_size, patience=patience, length_penalty=length_penalty,
        best_of=best_of, suppress_tokens=token_list(suppress_tokens), suppress_blank=suppress_blank,
        prefix=prefix, repetition_penalty=repetition_penalty,
        no_repeat_ngram_size=no_repeat_ngram_size, max_initial_timestamp=max_initial_timestamp,
    )  # fmt: skip
    safeguards = with_openai_options(
        safeguards, temperature, compression_ratio_threshold, logprob_threshold,
        no_speech_threshold, prompt_reset_on_temperature,
    )  # fmt: skip
    # One input: a file that cannot be read raises here. A list: its Transcription says why.
    inputs = audio if isinstance(audio, list) else [waveform_of(audio)]
    results: list[Transcription | None] = [None] * len(inputs)
    for index, result in transcribe_files(
        model,
        inputs,
        eas=eas,
        options=options,
        condition_on_previous_text=condition_on_previous_text,
        initial_prompt=initial_prompt,
        safeguards=safeguards,
        word_timestamps=word_timestamps,
        prepend_punctuations=prepend_punctuations,
        append_punctuations=append_punctuations,
        backends=backends,
        batch_size=batch_size,
        vad_filter=vad_filter,
        vad_parameters=vad_parameters,
        hallucination_silence_threshold=hallucination_silence_threshold,
        clip_timestamps=clip_timestamps,
        max_parts=max_parts,
        vad_check=vad_check,
        skip_silence=skip_silence,
    ):
        results[index] = result
    return results if isinstance(audio, list) else results[0]


def token_list(tokens: str | tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """Token ids from "-1,50256" (openai-whisper's spelling) or from ids."""
    if isinstance(tokens, str):
        try:
            return tuple(int(t) for t in tokens.split(",") if t.strip())
        except ValueError:
            raise ValueError(
                f"suppress_tokens must be comma-separated ids, got {tokens!r}"
            ) from None
    return tuple(tokens)


# `model.transcribe("talk.mp3", ...)`, as openai-whisper's and faster-whisper's users write it
# (set here: the model's module comes before this one).
WhisperModel.transcribe = transcribe


def transcribe_stream(
    model: WhisperModel,
    audio: AudioInput,
    *,
    language: str | None = None,
    task: str = "transcribe",
    timestamps: bool = True,
    max_new_tokens: int | None = None,
    hotwords: str | None = None,
    beam_size: int | None = None,
    patience: float | None = None,
    length_penalty: float | None = None,
    best_of: int | None = 5,
    suppress_tokens: str | tuple[int, ...] = (-1,),
    suppress_blank: bool = True,
    prefix: str | None = None,
    repetition_penalty: float = 1.0,
    no_repeat_ngram_size: int = 0,
    max_initial_timestamp: float | None = MAX_INITIAL_TIMESTAMP,
    initial_prompt: str | None = None,
    carry_initial_prompt: bool = False,
    temperature: float | tuple[float, ...] = TEMPERATURES,
    compression_ratio_threshold: float | None = Safeguards.compression_ratio_threshold,
    logprob_threshold: float | None = Safeguards.logprob_threshold,
    no_speech_threshold: float | None = Safeguards.no_speech_threshold,
    prompt_reset_on_temperature: float = Safeguards.prompt_reset_on_temperature,
    safeguards: Safeguards | None = None,
    **options,
) -> Iterator[Segment]:
    """One file's segments as each window is decoded, in the file's time (what faster-whisper's
    `segments, info = model.transcribe(...)` yields); the segments `transcribe` returns. The
    other `options` are `transcribe`'s (eas, word_timestamps, vad_filter, batch_size, ...). A
    recording cut into parts streams its first part as it is decoded and each later part's
    segments once the parts before it are done. A file that cannot be read raises before the
    first segment."""
    initial_prompt, hotwords = carried_prompt(initial_prompt, hotwords, carry_initial_prompt)
    decoding = DecodingOptions(
        task=task, language=language, timestamps=timestamps, max_new_tokens=max_new_tokens,
        hotwords=hotwords, beam_size=beam_size, patience=patience, length_penalty=length_penalty,
        best_of=best_of, suppress_tokens=token_list(suppress_tokens), suppress_blank=suppress_blank,
        prefix=prefix, repetition_penalty=repetition_penalty,
        no_repeat_ngram_size=no_repeat_ngram_size, max_initial_timestamp=max_initial_timestamp,
    )  # fmt: skip
    safeguards = with_openai_options(
        safeguards, temperature, compression_ratio_threshold, logprob_threshold,
        no_speech_threshold, prompt_reset_on_temperature,
    )  # fmt: skip
    waveform = waveform_of(audio)
    for _, segments, _ in long_form(
        model, [waveform], options=decoding, initial_prompt=initial_prompt,
        safeguards=safeguards, **options,
    ):  # fmt: skip
        yield from segments or []
