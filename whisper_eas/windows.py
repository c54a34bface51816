"""A batch of 30 s windows, encoded and decoded: each row with its own EAS decision, fallbacks,
temperatures and random draws, so that a window's result does not depend on the other rows.

openai-whisper's safeguards decide when a window is decoded again (`Safeguards`): a decode
whose text compresses too well (a loop) or whose average log-prob is too low is retried,
first without EAS when its window was sparsified, then at rising temperatures; a window the
model calls silence is not retried. Without timestamp tokens, a window whose text stopped far
short of the speech the VAD hears in it is decoded again with them. `transcribe.py` drives
the windows of every file.
"""

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import torch

from .audio import N_SAMPLES, SAMPLE_RATE, log_mel_spectrogram
from .decoding import DecodingOptions, DecodingResult, WhisperModel, decode, detect_language
from .model import EncoderOutput
from .sparsify import EASConfig, speech_tokens

TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
DETECT = "<detect>"  # a file whose language is detected from its first window
# A window whose text has more words than this for each second the VAD hears in it, decoded
# with no confidence (average log-prob under the threshold, after every retry), is not what
# was said: it is dropped. The 1.2 s left after a recording's last full window held the end of
# its last word, and tiny.en wrote 15 words there at temperature 1.0 (log-prob -3.8); the VAD's
# speech kept openai-whisper's no-speech rule from dropping them. Read speech runs ~2.7 words
# a second (dev-clean's median utterance).
MAX_WORDS_PER_HEARD_S = 6.0
# A window's decode may write at most this many tokens (timestamps too) per second of its
# audio, plus LOOP_TOKENS_BASE; one that reaches the limit is a loop and is decoded again.
# openai-whisper's only limit is 224 tokens whatever the audio, so a loop on a short window
# ran 224 steps at each temperature (5 draws a row from 0.2 up): 5-12 s for 0.5 s of a cut
# word, tiny.en. Read speech has at most 5.6 text tokens a second (the fastest of 1313 dev-clean
# utterances; median 3.2), so windows of 13.5 s or more keep openai's limit alone.
LOOP_TOKENS_PER_SECOND = 15.0
LOOP_TOKENS_BASE = 20
# tiny.en once wrote "//" twenty times, each its own segment, after a skipped stretch's join,
# and the speech after it was lost: the text compressed no better than speech does (1.7 against
# openai-whisper's 2.4). A window with more than this many words without a letter or a digit is
# a loop and is decoded again (2 of the 12,915 texts in benchmarks/results have three or
# more, both loops of ".").
MAX_SYMBOL_WORDS = 2


def token_limit(seconds: float) -> int:
    """The most tokens a decode of `seconds` of audio may write before it counts as a loop (a
    limit of ours, under openai-whisper's 224)."""
    return LOOP_TOKENS_BASE + math.ceil(LOOP_TOKENS_PER_SECOND * seconds)


# Chinese and Japanese are written without spaces between words, so a sentence would count as
# one word. Each of their characters counts as half a word instead: Mandarin is spoken at ~4-5
# syllables a second, one character each, where read English runs ~2.7 words (untested here on
# such audio). Kana, Han and half-width katakana; not punctuation:
UNSPACED = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f]")


def word_count(text: str) -> int:
    """A text's words for the safeguards' rates: words between spaces, each character of
    Chinese or Japanese counted as half a word (rounded up)."""
    unspaced = len(UNSPACED.findall(text))
    if not unspaced:
        return len(text.split())
    return sum(not UNSPACED.search(word) for word in text.split()) + math.ceil(unspaced / 2)


# tiny.en wrote "I don't think that's me." five times in a row over a crowd's murmur, each its
# own segment, 1.4 words a second: no rule read it as a loop (it compressed to 2.0). A window
# whose text holds a sentence of 3 words or more this many times in a row is a loop and is
# decoded again. Of the 7,095 texts in benchmarks/results, 3 hold one, all invented on non-speech.
MAX_SENTENCE_REPEATS = 2


def longest_run(items: list[str], counted: Callable[[str], bool] = lambda item: True) -> int:
    """The most equal items in a row (1 at least); an item `counted` refuses ends a run."""
    most = run = 1
    for before, item in zip(items, items[1:]):
        run = run + 1 if item == before and counted(item) else 1
        most = max(most, run)
    return most


def sentence_repeats(text: str) -> int:
    """The most times in a row a sentence of three words or more stands in `text`."""
    sentences = [s.strip().lower() for s in re.split(r"(?<=[.?!])\s+", text) if s.strip()]
    return longest_run(sentences, lambda sentence: len(sentence.split()) >= 3)


# tiny.en wrote "The" six times over a crowd's murmur, each its own segment. A word written
# more than this many times in a row (as written: "very, very, very" is not) is a loop too.
MAX_WORD_REPEATS = 3


def word_repeats(text: str) -> int:
    """The most times in a row a word, as written, stands in `text` (case aside)."""
    return longest_run(text.lower().split())


def symbol_words(text: str) -> int:
    """How many of a text's words hold no letter or digit ("//", "...")."""
    return sum(not any(c.isalnum() for c in word) for word in text.split())


def is_number(value) -> bool:
    """A finite int or float, not a bool."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


@dataclass(frozen=True)
class Safeguards:
    """openai-whisper's thresholds: when to retry a window, and when to call it silence."""

    temperatures: tuple[float, ...] = TEMPERATURES
    compression_ratio_threshold: float | None = 2.4
    logprob_threshold: float | None = -1.0
    no_speech_threshold: float | None = 0.6
    # A window decoded hotter than this (a fallback) is not the next one's prompt: openai-whisper's
    # 0.5, faster-whisper's `prompt_reset_on_temperature`.
    prompt_reset_on_temperature: float = 0.5
    # openai-whisper's rule alone lets the classic hallucinations on silence through: on 10 s
    # of zeros tiny.en and base write "you" with no-speech probability 0.93-0.95 but a confident
    # average log-prob (-0.7). A window this sure of no speech whose text is this short is
    # silence too. "Sure" is read without the previous-text prompt, which inflates the
    # probability on a last window of short speech (docs/long_recordings.md: the numbers).
    silence_no_speech_threshold: float | None = 0.7
    silence_max_words: int = 3
    # With EAS, a window whose text has fewer words than this per second of its audio is redone
    # without EAS (it may have lost speech). The slowest of 1313 dev-clean utterances has 0.64
    # words/s (one word in 1.55 s), the median 2.7, speech-filled windows at least 1.9; on
    # audio that is not speech the rule costs one dense decode a window, not a wrong answer.
    eas_min_words_per_second: float = 0.25
    # A window in which Silero VAD hears at least this much speech is not silence, whatever
    # the no-speech probability says (with `vad_check`). tiny.en's last window of a recording
    # with gaps, 4.6 s holding "the Tupper of painting. By Harry Quilter, M.A.", read as no
    # speech under the previous text's prompt, and the sentence was lost.
    vad_speech_seconds: float = 1.0
    # A long prompt inflates the no-speech probability of a short window of speech too (a
    # part's or a file's last, short window): after a part's 23 s window tiny.en read the 0.96 s
    # left, "his shoulder.", at 0.93 under the prompt and 0.16 without it, log-prob -1.04, and
    # openai-whisper's rule dropped the words (data/long 1462-170142). Where the VAD hears this
    # much speech or more, that rule reads the probability without the prompt.
    vad_unprompted_seconds: float = 0.5
    # Without timestamp tokens a window is one segment, and nothing says where its text ended:
    # tiny.en wrote "She ejaculated." for a part holding 22 s of speech and stopped there, the
    # part's other 60 words lost (data/long 1988-147956: 17.0 % WER against 4.4 with
    # timestamps). Of 262 such windows of data/long's 28 recordings, 2 held 0.09-0.10 words a
    # second the VAD hears, every other 1.55 or more; under the previous text's prompt (30 s
    # windows, batch_size=1) 17 of 249 fell under 1.0. A window under this rate is decoded
    # again with timestamp tokens, whose rules keep a part's text going to its speech's end
    # (`speech_until`), and that text replaces it (the `timestamps` fallback). tiny.en's WER
    # there, at 0.5 / 1.0 / 1.5: 9.77 / 8.44 / 8.40 % whole, 5.47 % at each in parts.
    min_words_per_heard_s: float = 1.0

    def __post_init__(self):
        # Checked here, where a caller's values arrive, not deep inside a decode.
        temperatures = self.temperatures
        if not isinstance(temperatures, (tuple, list)) or not temperatures:
            raise ValueError(f"temperatures must be a non-empty sequence, got {temperatures!r}")
        if not all(is_number(t) and t >= 0 for t in temperatures):
            raise ValueError(f"temperatures must be numbers from 0 up, got {temperatures!r}")
        object.__setattr__(self, "temperatures", tuple(float(t) for t in temperatures))
        for name in OPTIONAL_THRESHOLDS:
            if (value := getattr(self, name)) is not None and not is_number(value):
                raise ValueError(f"{name} must be a number or None, got {value!r}")
        for name in NON_NEGATIVE:
            if not is_number(value := getattr(self, name)) or value < 0:
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        words = self.silence_max_words
        if isinstance(words, bool) or not isinstance(words, int) or words < 0:
            raise ValueError(f"silence_max_words must be a whole number >= 0, got {words!r}")

    @property
    def first_temperature(self) -> float:
        """The first decode's temperature; the others are the retries'."""
        return self.temperatures[0]

    def is_silence(self, result: DecodingResult, heard: float | None = None) -> bool:
        """Whether a decoded window is silence; `heard`: the seconds of it the VAD calls
        speech (None: not known)."""
        if heard is not None and heard >= self.vad_speech_seconds:
            return False
        no_speech = result.no_speech_prob
        if heard is not None and heard >= self.vad_unprompted_seconds:
            no_speech = result.no_speech_prob_alone
        if self.no_speech_threshold is None or no_speech <= self.no_speech_threshold:
            return False
        if self.logprob_threshold is None or result.avg_logprob < self.logprob_threshold:
            return True
        sure = self.silence_no_speech_threshold
        return (
            sure is not None
            and result.no_speech_prob_alone > sure
            and word_count(result.text) <= self.silence_max_words
        )

    def is_implausible(self, result: DecodingResult, heard: float | None = None) -> bool:
        """Whether a decoded window's text holds more words than the speech the VAD hears in it
        can (MAX_WORDS_PER_HEARD_S a second), decoded without confidence: not what was said."""
        return (
            heard is not None
            and self.logprob_threshold is not None
            and result.avg_logprob < self.logprob_threshold
            # (half a second at least: the VAD may hear a short word or two as less)
            and word_count(result.text) > MAX_WORDS_PER_HEARD_S * max(heard, 0.5)
        )

    def ended_early(self, result: DecodingResult, heard: float | None = None) -> bool:
        """Whether a window decoded without timestamps ended its text far short of the speech
        the VAD hears in it (not at the caller's token limit, and not silence)."""
        return (
            heard is not None
            and not result.hit_max_length
            and not self.is_silence(result, heard)
            and word_count(result.text) < self.min_words_per_heard_s * heard
        )

    def looks_cut(
        self,
        result: DecodingResult,
        seconds: float,
        heard: float | None = None,
        speech_dropped: bool = True,
    ) -> bool:
        """A sparsified window's decode that may have lost what EAS dropped: it hit the length
        limit (a loop: what ends the text was dropped), or EAS dropped some of its audio's
        tokens and it has far fewer words than its `seconds` of audio hold (silence counts as
        none). A window that kept all its audio (a truncation drops padding only) lost no
        words: on a recording's pauses and gaps the word count would redo it for nothing."""
        if result.hit_max_length:
            return True
        words = 0 if self.is_silence(result, heard) else word_count(result.text)
        return speech_dropped and words < self.eas_min_words_per_second * seconds

    def needs_fallback(
        self,
        result: DecodingResult,
        sparsified: bool,
        seconds: float,
        heard: float | None = None,
        speech_dropped: bool = True,
    ) -> bool:
        if sparsified and self.looks_cut(result, seconds, heard, speech_dropped):
            return True
        if self.is_silence(result, heard):  # as openai-whisper: silence is not decoded again
            return False
        if result.hit_token_limit:  # more tokens than its audio can hold: a loop
            return True
        if symbol_words(result.text) > MAX_SYMBOL_WORDS:  # a loop of marks
            return True
        if sentence_repeats(result.text) > MAX_SENTENCE_REPEATS:  # a loop of sentences
            return True
        if word_repeats(result.text) > MAX_WORD_REPEATS:  # a loop of one word
            return True
        if (thr := self.compression_ratio_threshold) is not None and result.compression_ratio > thr:
            return True
        return (thr := self.logprob_threshold) is not None and result.avg_logprob < thr


OPTIONAL_THRESHOLDS = (  # None turns the rule off
    "compression_ratio_threshold", "logprob_threshold", "no_speech_threshold",
    "silence_no_speech_threshold",
)  # fmt: skip
NON_NEGATIVE = (
    "prompt_reset_on_temperature", "eas_min_words_per_second", "vad_speech_seconds",
    "vad_unprompted_seconds", "min_words_per_heard_s",
)  # fmt: skip


def with_openai_options(
    safeguards: Safeguards | None,
    temperature: float | tuple[float, ...] | list[float],
    compression_ratio_threshold: float | None,
    logprob_threshold: float | None,
    no_speech_threshold: float | None,
    prompt_reset_on_temperature: float = Safeguards.prompt_reset_on_temperature,
) -> Safeguards:
    """openai-whisper's `transcribe` keywords (and faster-whisper's
    `prompt_reset_on_temperature`) as Safeguards. They are given either as keywords
    or inside `safeguards` (its other rules), not both: a keyword away from its default next to
    a `safeguards` is refused, so that neither is silently ignored."""
    temperatures = (temperature,) if isinstance(temperature, (int, float)) else temperature
    if not isinstance(temperatures, (tuple, list)) or not temperatures:
        raise ValueError(
            f"temperature must be a number or a non-empty sequence, got {temperature!r}"
        )
    if not all(is_number(t) and t >= 0 for t in temperatures):
        raise ValueError(f"temperatures must be numbers from 0 up, got {temperature!r}")
    given = {
        "temperatures": tuple(float(t) for t in temperatures),
        "compression_ratio_threshold": compression_ratio_threshold,
        "logprob_threshold": logprob_threshold,
        "no_speech_threshold": no_speech_threshold,
        "prompt_reset_on_temperature": prompt_reset_on_temperature,
    }
    defaults = Safeguards()
    changed = {name: value for name, value in given.items() if value != getattr(defaults, name)}
    if safeguards is None:
        return replace(defaults, **changed)  # Safeguards checks the values
    if changed:
        names = ", ".join("temperature" if n == "temperatures" else n for n in changed)
        raise ValueError(f"give {names} inside safeguards=Safeguards(...) or as keywords, not both")
    return safeguards


@dataclass
class Window:
    """One 30 s window of a file: its log-mel (n_mels, 3000), cut from the whole file's, and
    how many of its samples are audio (the rest of the 30 s is zero padding)."""

    mel: torch.Tensor
    n_samples: int
    voiced: torch.Tensor | None = None  # (1500,) bool: audio tokens the VAD heard (EAS `vad`)


def file_mel(waveform: np.ndarray, n_mels: int) -> torch.Tensor:
    """The log-mel of a whole file followed by 30 s of zeros, (n_mels, frames): every window is
    a 3000-frame slice of it, as in openai-whisper (for a clip under 30 s the first window
    equals the mel of the clip padded to 30 s, the Hugging Face convention)."""
    return log_mel_spectrogram(waveform, n_mels, padding=N_SAMPLES)


@torch.inference_mode()
def encode(
    model: WhisperModel, windows: list[Window], eas: EASConfig | None, backends="sdpa"
) -> EncoderOutput:
    """The encoder (with EAS when given) on a batch of windows, one window at a time, so that
    a window's features are its own whatever the other rows, with EAS too. On CUDA a batch's
    shape changes the kernels' summation order (base float16 on an H200: features up to 0.3
    apart, and one of eight files other tokens in a batch than alone;
    `benchmarks/cuda_invariance.py`). On the CPU it is also the faster way: the products of
    1,500 rows already run at full speed, and a batch's larger temporaries only miss the caches
    and fault in fresh pages (`benchmarks/encoder_batching.py`, a batch of 6: int8 1.22-1.25x
    faster one at a time, float32 0.96-1.07x)."""
    if len(windows) > 1:
        return EncoderOutput.cat([encode(model, [w], eas, backends) for w in windows])
    mel = torch.stack([w.mel for w in windows]).to(device=model.device, dtype=model.dtype)
    n_speech = [speech_tokens(w.n_samples) for w in windows]
    voiced = [w.voiced for w in windows] if eas is not None and eas.vad is not None else None
    return model.network.encoder(mel, eas=eas, n_speech=n_speech, voiced=voiced, backends=backends)


def speech_dropped(audio: EncoderOutput, row: int, n_samples: int) -> bool:
    """Whether EAS dropped any of the tokens that hold a row's audio (not only padding)."""
    if audio.kept is None:
        return False
    kept = audio.kept[row] if audio.mask is None else audio.kept[row][audio.mask[row]]
    n_speech = speech_tokens(n_samples)
    return int((kept < n_speech).sum()) < n_speech


def rows_of(audio: EncoderOutput, rows: list[int]) -> EncoderOutput:
    pick = lambda t: None if t is None else t[rows]  # noqa: E731
    return EncoderOutput(audio.features[rows], pick(audio.kept), pick(audio.mask))


def sampling_generator(
    model: WhisperModel, seek: int, temperature: float, draw: int = 0
) -> torch.Generator:
    """The random generator of one sampled retry (its `draw`-th of best_of): seeded by the
    window's position, the temperature and the draw only, so a file's retry draws the same
    tokens alone and in any batch."""
    seed = seek * 1000 + round(temperature * 100) + draw * 1_000_003
    return torch.Generator(device=model.device).manual_seed(seed)


def sampling_generators(
    model: WhisperModel, seeks: list[int], temperature: float, best_of: int | None
) -> list[torch.Generator]:
    """Each row's generators for a sampled decode: best_of of them, row after row."""
    draws = range(best_of or 1)
    return [sampling_generator(model, seek, temperature, d) for seek in seeks for d in draws]


@dataclass
class WindowRequest:
    """One row of a batch: a file's next window and what decoding it needs."""

    window: Window
    seek: int  # samples: where the window starts in its file
    previous: list[int]  # text tokens for the <|startofprev|> prompt
    language: str | None  # or DETECT (or ignored: `language_of` names the row it comes from)
    prefixed: bool = False  # a file's first window: DecodingOptions.prefix applies
    heard: float | None = None  # seconds of the window the VAD calls speech (None: not known)
    speech_until: int | None = None  # no end of text on a segment start before this timestamp
    dense: bool = False  # encoded without EAS (the window before, sparsified, skipped speech)
    language_of: int | None = None  # the row (a file's first part) whose detected language it takes


@dataclass
class Attempt:
    """A window's accepted decode, the encoder output it read (a batch of one), the fallback
    that produced it (None: the first try; "eas_off"; "temperature") and the cross-attention
    K/V its decode projected from that output (`decode`'s `cross_kv`), for the word aligner."""

    result: DecodingResult
    audio: EncoderOutput
    fallback: str | None
    cross_kv: list | None = None


def fallback_steps(
    sparsified: bool, safeguards: Safeguards, ended_early: bool = False
) -> list[tuple[str, float]]:
    """A row's retries in order: first without EAS when its window was sparsified, then with
    timestamp tokens when its text ended early (`Safeguards.ended_early`), then hotter."""
    first = safeguards.first_temperature
    steps = [("eas_off", first)] if sparsified else []
    steps += [("timestamps", first)] if ended_early else []
    return steps + [("temperature", t) for t in safeguards.temperatures[1:]]


def decode_windows(
    model: WhisperModel,
    requests: list[WindowRequest],
    options: DecodingOptions,
    eas: EASConfig | None,
    safeguards: Safeguards,
    backends="sdpa",
    keep_cross_kv: bool = False,
) -> list[Attempt]:
    """Each window's accepted attempt. Every row follows its own fallback path: its own EAS
    decision, retries, temperatures and random draws, whatever the other rows need. With
    `keep_cross_kv` each attempt carries the cross K/V its decode projected (word timing)."""
    windows = [r.window for r in requests]
    timestamp_begin = model.tokenizer.timestamp_begin
    if eas is not None and any(r.dense for r in requests):
        audio = EncoderOutput.cat(
            [encode(model, [r.window], None if r.dense else eas, backends) for r in requests]
        )
    else:
        audio = encode(model, windows, eas, backends)
    seconds = [w.n_samples / SAMPLE_RATE for w in windows]
    languages = [r.language for r in requests]
    unknown = [i for i, language in enumerate(languages) if language == DETECT]
    detected = {}  # row -> (language, probability)
    if unknown:  # a file's first window: detect its language from the features already here
        found = detect_language(model, rows_of(audio, unknown), options.backend)
        detected = dict(zip(unknown, found))
        for i, (code, _) in detected.items():
            languages[i] = code
    for i, request in enumerate(requests):  # a later part of a file: its first part's language
        if request.language_of is not None:
            languages[i] = languages[request.language_of]

    def run(
        rows: list[int], audio: EncoderOutput, temperature: float, stamped: bool = False
    ) -> list[tuple]:
        """Decode windows `rows` (audio: theirs) at `temperature` -> (result, cross K/V) of
        each; `stamped`: with timestamp tokens whatever the options, their text kept (the
        `timestamps` fallback). Only a file's first window takes the prefix: the rows that do
        and those that do not are decoded apart."""
        results: dict[int, tuple] = {}
        takes_prefix = [bool(options.prefix) and requests[i].prefixed for i in rows]
        for prefixed in (True, False):
            group = [p for p, takes in enumerate(takes_prefix) if takes == prefixed]
            if not group:
                continue
            seeks = [requests[rows[p]].seek for p in group]
            generators = (  # each row draws from its own generator
                sampling_generators(model, seeks, temperature, options.best_of)
                if temperature > 0 else None
            )  # fmt: skip
            prefix = options.prefix if prefixed else None
            cross_kv: list | None = [] if keep_cross_kv else None
            found = decode(
                model, audio if len(group) == len(rows) else rows_of(audio, group),
                replace(options, temperature=temperature, prefix=prefix,
                        timestamps=options.timestamps or stamped),
                [requests[rows[p]].previous for p in group],
                [languages[rows[p]] for p in group], generators,
                [requests[rows[p]].speech_until for p in group],
                [token_limit(seconds[rows[p]]) for p in group], cross_kv=cross_kv,
            )  # fmt: skip
            if stamped and not options.timestamps:
                for result in found:
                    result.tokens = [t for t in result.tokens if t < timestamp_begin]
            results.update(zip(group, zip(found, cross_kv or [None] * len(found))))
        return [results[p] for p in range(len(rows))]

    decoded = run(list(range(len(requests))), audio, safeguards.first_temperature)
    first = [result for result, _ in decoded]
    for i, (_, probability) in detected.items():
        first[i].language_probability = probability
    attempts = [
        Attempt(result, rows_of(audio, [i]), None, kv) for i, (result, kv) in enumerate(decoded)
    ]
    sparsified = [k < model.dims.n_audio_ctx for k in audio.kept_counts()]

    def ended_early(i: int, result: DecodingResult) -> bool:
        return not options.timestamps and safeguards.ended_early(result, requests[i].heard)

    plans = {}
    for i, result in enumerate(first):
        early = ended_early(i, result)
        dropped = speech_dropped(audio, i, windows[i].n_samples)
        if early or safeguards.needs_fallback(
            result, sparsified[i], seconds[i], requests[i].heard, dropped
        ):
            plans[i] = fallback_steps(sparsified[i], safeguards, early)
    plans = {i: steps for i, steps in plans.items() if steps}
    dense: dict[int, EncoderOutput] = {}  # rows whose window has been encoded without EAS
    stamped: set[int] = set()  # rows decoded with timestamp tokens since their fallback
    while plans:
        by_step: dict[tuple[str, float, bool], list[int]] = {}
        for i, steps in plans.items():
            if steps[0][0] == "timestamps":
                stamped.add(i)
            by_step.setdefault((*steps[0], i in stamped), []).append(i)
        for (reason, temperature, stamps), rows in by_step.items():
            to_encode = [i for i in rows if sparsified[i] and i not in dense]
            if to_encode:
                encoded = encode(model, [windows[i] for i in to_encode], None, backends)
                dense.update({i: rows_of(encoded, [p]) for p, i in enumerate(to_encode)})
            sources = [dense.get(i, attempts[i].audio) for i in rows]
            results = run(rows, EncoderOutput.cat(sources), temperature, stamps)
            for i, source, (result, kv) in zip(rows, sources, results):
                attempts[i] = Attempt(result, source, reason, kv)
                retry = safeguards.needs_fallback(result, False, seconds[i], requests[i].heard)
                retry = retry or (not stamps and ended_early(i, result))
                plans[i] = plans[i][1:] if retry else []
        plans = {i: steps for i, steps in plans.items() if steps}
    return attempts
