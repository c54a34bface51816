"""Word timestamps: where each word's tokens attend in the audio, by dynamic time warping over
the cross-attention of the checkpoint's alignment heads (openai-whisper's method, as in its
`timing.py`: standardise each head over tokens, median filter over time, average the heads,
find the monotonic path of least cost), and openai-whisper's rules that then fit the segments'
times to their words (a segment starts at its first word and ends at its last, and a word
stretched over a pause is cut to twice the median word length).

With EAS the decoder attends to k kept audio tokens, not 1500: each column of the attention
matrix is mapped back through the kept indices to its own 20 ms position, so word times stay
in audio time.
"""

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .decoding import WhisperModel
from .model import EncoderOutput

SECONDS_PER_TOKEN = 0.02  # one audio token: two 10 ms mel frames
MEDIAN_FILTER_WIDTH = 7
MAX_MEDIAN_WORD_SECONDS = 0.7  # the median word length the stretch rules use, at most
SENTENCE_ENDS = ".。!！?？"
# Languages written without spaces between words: their words for timing are characters, as
# in openai-whisper.
UNSPACED_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "my", "yue"})
BROKEN = "\ufffd"  # what decoding writes for a character cut between tokens
PREPEND_PUNCTUATION = "\"'“¿([{-"
APPEND_PUNCTUATION = "\"'.。,，!！?？:：”)]}、"


@dataclass
class Word:
    word: str  # as decoded, with its leading space
    start: float  # seconds from the start of the audio
    end: float
    probability: float  # mean probability of its tokens


def dtw_path(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The monotonic path of least total cost through `cost` (N, M), from (0, 0) to
    (N-1, M-1), moving down, right or diagonally -> (row indices, column indices).

    Computed a row at a time. Cell j of row i is entered from the row above (diagonally or
    straight down) at some column k <= j and then moves right to j, so its total is
    `prefix[j] + min over k <= j of (enter[k] - prefix[k - 1])`, with `prefix` the row's running
    cost: a cumulative minimum, one numpy call for the whole row (a window of ~150 tokens over
    1,500 columns: 11 ms against 68 one anti-diagonal at a time). The moves are then chosen
    from the totals as openai-whisper chooses them (diagonal, then down, then right, on ties)."""
    n, m = cost.shape
    total = np.full((n + 1, m + 1), np.inf)
    total[0, 0] = 0.0
    for i in range(1, n + 1):
        above = total[i - 1]
        enter = np.minimum(above[:-1], above[1:])  # into columns 1..m, diagonally or from above
        prefix = np.concatenate(([0.0], np.cumsum(cost[i - 1])))
        total[i, 1:] = prefix[1:] + np.minimum.accumulate(enter - prefix[:-1])
    diagonal, above, left = total[:-1, :-1], total[:-1, 1:], total[1:, :-1]
    step = np.full((n + 1, m + 1), 2, dtype=np.int8)  # 0 diagonal, 1 from above, 2 from the left
    step[1:, 1:] = np.where(
        (diagonal < above) & (diagonal < left),
        0,
        np.where((above < diagonal) & (above < left), 1, 2),
    )
    step[1:, 0] = 1
    rows, columns, i, j = [], [], n, m
    while i > 0 or j > 0:
        rows.append(i - 1)
        columns.append(j - 1)
        move = step[i, j]
        i, j = (i - 1, j - 1) if move == 0 else (i - 1, j) if move == 1 else (i, j - 1)
    return np.array(rows[::-1]), np.array(columns[::-1])


def median_filter(x: Tensor, width: int) -> Tensor:
    """Median over the last axis in a sliding window of odd `width` (edges reflected).

    The window's values are sorted by an odd-even transposition network (`width` rounds of
    elementwise min and max over shifted views) and the middle one is taken: the same values
    as `unfold(...).median()`, ~3x faster on (heads, tokens, 1,500 columns)."""
    pad = width // 2
    if x.shape[-1] <= pad:
        return x
    rows = x.reshape(1, -1, x.shape[-1])  # reflect-padding wants (N, C, W)
    padded = torch.nn.functional.pad(rows, (pad, pad), mode="reflect")[0]
    n = x.shape[-1]
    window = [padded[..., k : k + n] for k in range(width)]
    for sweep in range(width):
        for k in range(sweep % 2, width - 1, 2):
            window[k], window[k + 1] = (
                torch.minimum(window[k], window[k + 1]),
                torch.maximum(window[k], window[k + 1]),
            )
    return window[pad].reshape(x.shape)


def split_words(
    model: WhisperModel, tokens: list[int], language: str | None = None
) -> list[list[int]]:
    """Text tokens grouped into words: a word starts at a token that begins with a space or
    is punctuation (English and other space-delimited scripts); in a language written without
    spaces, each whole character is a word (`split_characters`)."""
    if language in UNSPACED_LANGUAGES:
        return split_characters(model, tokens)
    words: list[list[int]] = []
    for token in tokens:
        text = model.tokenizer.decode([token])
        starts = text.startswith(" ") or text.strip() in APPEND_PUNCTUATION + PREPEND_PUNCTUATION
        if not words or starts:
            words.append([token])
        else:
            words[-1].append(token)
    return words


def split_characters(model: WhisperModel, tokens: list[int]) -> list[list[int]]:
    """Text tokens grouped into whole characters: byte-level BPE may cut a character (a
    Chinese one takes three bytes) over several tokens, so a group ends where its
    text decodes without a broken character. A broken one the whole text holds too (the model
    wrote invalid bytes) ends its group as well, so that it does not take every token after it."""
    decode = model.tokenizer.decode
    whole = decode(tokens)
    words: list[list[int]] = []
    group: list[int] = []
    at = 0  # where the group's text starts in the whole text
    for token in tokens:
        group.append(token)
        text = decode(group)
        broken = text.find(BROKEN)
        if broken < 0 or whole[at + broken : at + broken + 1] == BROKEN:
            words.append(group)
            at, group = at + len(text), []
    return words + [group] if group else words


def standardized(heads: Tensor) -> Tensor:
    """Each head's weights standardised over tokens, then median-filtered over time. A head
    that attends alike from every token has no spread: it contributes zeros, not NaN."""
    std, mean = torch.std_mean(heads, dim=-2, keepdim=True, unbiased=False)
    return median_filter((heads - mean) / std.clamp_min(1e-8), MEDIAN_FILTER_WIDTH)


@torch.inference_mode()
def alignment_matrix(
    model: WhisperModel,
    audio: EncoderOutput,
    columns: Tensor,
    prompt: list[int],
    text_tokens: list[int],
    cross_kv: list | None = None,
) -> tuple[Tensor, Tensor]:
    """(text tokens + 1, len(columns)) alignment scores of one window (batch row 0) over the
    audio `columns`, and the probability of each text token in the same forward pass;
    `cross_kv`: the window's cross-attention K/V from its decode (else projected here)."""
    tokenizer, decoder = model.tokenizer, model.network.decoder
    tokens = torch.tensor([[*prompt, *text_tokens, tokenizer.eot]], device=model.device)
    cache = decoder.new_cache(audio, cross_kv=cross_kv)
    cross_scores: list[Tensor] = []
    logits = decoder(tokens, cache, cross_scores=cross_scores)[0]  # (T, V)
    heads = torch.stack([cross_scores[layer][0, head] for layer, head in model.alignment_heads])
    heads = standardized(heads[..., columns].float().softmax(dim=-1))  # (A, T, S): speech only
    matrix = heads.mean(dim=0)[len(prompt) - 1 : -1]  # rows that predict each text token and eot
    rows = torch.arange(len(prompt) - 1, len(prompt) - 1 + len(text_tokens))
    text_probs = logits[rows, : tokenizer.eot].softmax(dim=-1)
    return matrix, text_probs[torch.arange(len(text_tokens)), text_tokens]


def add_word_timestamps(
    model: WhisperModel,
    audio: EncoderOutput,
    prompt: list[int],
    segments: list,
    offset: float,
    n_speech_tokens: int,
    last_speech: float,
    cross_kv: list | None = None,
    punctuation: tuple[str, str] = (PREPEND_PUNCTUATION, APPEND_PUNCTUATION),
    language: str | None = None,
) -> float:
    """Fill `segment.words` for a window's segments (text tokens in order), in audio time, and
    fit the segments' start and end to their words. `audio` is the window's encoder output
    (batch of one); `prompt` the start sequence with <|notimestamps|>; `offset` the window's
    start in seconds; `last_speech` where speech last ended before it; `cross_kv` the K/V its
    decode projected, if kept; `punctuation` the marks merged with the next word and with the
    previous one (`merge_punctuation`); `language` the text's, which says how it splits into
    words. Returns where speech ends after it (the next window's
    `last_speech`)."""
    text_tokens = [t for segment in segments for t in segment.tokens]
    if not text_tokens:
        return last_speech
    n_columns = audio.features.shape[1]
    positions = audio.kept[0].cpu() if audio.kept is not None else torch.arange(n_columns)
    valid = (
        audio.mask[0].cpu() if audio.mask is not None else torch.ones(n_columns, dtype=torch.bool)
    )
    columns = torch.nonzero(valid & (positions < n_speech_tokens)).flatten()  # audio, not padding
    columns = columns if len(columns) else torch.nonzero(valid).flatten()
    matrix, probs = alignment_matrix(model, audio, columns, prompt, text_tokens, cross_kv)
    rows, path = dtw_path(-matrix.double().cpu().numpy())
    jumps = np.diff(rows, prepend=-1).astype(bool)  # the first column each row reaches
    times = offset + positions[columns[path[jumps]]].cpu().numpy() * SECONDS_PER_TOKEN
    words = split_words(model, text_tokens, language)
    bounds = np.cumsum([0] + [len(w) for w in words])
    probabilities = probs.cpu().numpy()
    timed = [
        Word(
            word=model.tokenizer.decode(w),
            start=float(times[bounds[i]]),
            end=float(times[bounds[i + 1]]),
            probability=float(probabilities[bounds[i] : bounds[i + 1]].mean()),
        )
        for i, w in enumerate(words)
    ]
    median = median_word_seconds(timed)
    cut_at_sentence_ends(timed, 2 * median)
    merged, first_tokens = merge_punctuation(timed, bounds[:-1].tolist(), *punctuation)
    # Each word goes to the segment that holds its first token (punctuation merged across a
    # segment boundary stays with the word before it).
    segment_ends = np.cumsum([len(segment.tokens) for segment in segments])
    segment_of = np.searchsorted(segment_ends, first_tokens, side="right")
    for index, segment in enumerate(segments):
        segment.words = [w for w, s in zip(merged, segment_of) if s == index]
        last_speech = fit_segment_to_words(segment, median, last_speech)
    return last_speech


def confine_to_speech(segments: list, silences: list[tuple[float, float]]) -> list:
    """The segments heard in speech, their words kept out of `silences` (long stretches, in
    seconds, where Silero VAD hears no speech: `vad.long_silences`).

    The aligner can stretch a sentence's last word over the silence after it, or place it
    there (tiny.en timed "her" 6 s into 15 s of silence). A word reaching into a silence is
    cut at its edge; a word inside one moves to the edge on its segment's heard side. A
    segment heard nowhere (every word's middle, or without words the whole segment, in a
    silence) is text the audio does not hold, as a window that starts in a long silence can
    repeat the sentence before it: it is dropped."""

    def silence_at(start: float, end: float):
        return next(((a, b) for a, b in silences if a <= start and end <= b), None)

    kept = []
    for segment in segments:
        spans = [((w.start + w.end) / 2,) * 2 for w in segment.words]
        heard = [silence_at(*span) is None for span in spans or [(segment.start, segment.end)]]
        if not any(heard):
            continue
        for index, word in enumerate(segment.words):
            for a, b in silences:
                if word.end <= a or b <= word.start:
                    continue
                if word.start < a:  # from speech into the silence
                    word.end = a
                elif b < word.end:  # out of the silence into speech
                    word.start = b
                else:  # inside: to the edge where its segment was heard
                    word.start = word.end = a if any(heard[:index]) else b
        if segment.words:
            segment.start, segment.end = segment.words[0].start, segment.words[-1].end
        kept.append(segment)
    return kept


def median_word_seconds(words: list[Word]) -> float:
    durations = [w.end - w.start for w in words if w.end > w.start]
    return min(MAX_MEDIAN_WORD_SECONDS, float(np.median(durations))) if durations else 0.0


def cut_at_sentence_ends(words: list[Word], longest: float) -> None:
    """A sentence's last mark, or the word after it, stretched over a pause: cut to `longest`."""
    if longest <= 0:
        return
    for before, word in zip(words, words[1:]):
        if word.end - word.start > longest:
            if word.word.strip() in SENTENCE_ENDS:
                word.end = word.start + longest
            elif before.word.strip() in SENTENCE_ENDS:
                word.start = word.end - longest


def fit_segment_to_words(segment, median: float, last_speech: float) -> float:
    """openai-whisper's rules: a first word after a pause is at most twice the median word
    long; a segment starts at its first word and ends at its last, unless that word runs
    more than 0.5 s past the segment's own timestamp (then the word is cut instead), and no
    word lies outside its segment. Times are rounded to the millisecond. Returns where the
    segment's speech ends."""
    words, longest = segment.words, 2 * median
    if not words:
        return last_speech
    first = words[0]
    after_pause = first.end - last_speech > 2 * longest
    second_long = len(words) > 1 and words[1].end - first.start > 2 * longest
    if after_pause and (first.end - first.start > longest or second_long):
        if len(words) > 1 and words[1].end - words[1].start > longest:
            first.end = words[1].start = max(words[1].end / 2, words[1].end - longest)
        first.start = max(0.0, first.end - longest)
    if segment.start < first.end and segment.start - 0.5 > first.start:
        first.start = max(0.0, min(first.end - median, segment.start))
    else:
        segment.start = first.start
    last = words[-1]
    if segment.end > last.start and segment.end + 0.5 < last.end:
        last.end = max(last.start + median, segment.end)
    else:
        segment.end = last.end
    segment.start, segment.end = round(segment.start, 3), round(segment.end, 3)
    for word in words:  # a word kept longer than its segment's timestamp is cut to it
        word.start = min(max(round(word.start, 3), segment.start), segment.end)
        word.end = min(max(round(word.end, 3), word.start), segment.end)
    return segment.end


def merge_punctuation(
    words: list[Word],
    first_tokens: list[int],
    prepend: str = PREPEND_PUNCTUATION,
    append: str = APPEND_PUNCTUATION,
) -> tuple[list[Word], list[int]]:
    """Attach a word made of `prepend` marks (opening) to the next word and one made of `append`
    marks (closing) to the previous (openai-whisper's `prepend_punctuations` and
    `append_punctuations`); `first_tokens[i]` is the index of word i's first token, kept for
    each merged word."""
    merged: list[Word] = []
    firsts: list[int] = []
    pending, pending_first = None, 0
    for word, first in zip(words, first_tokens):
        text = word.word.strip()
        if text and all(ch in prepend for ch in text) and word is not words[-1]:
            if pending is None:
                pending, pending_first = word, first
            else:
                joined = pending.word + word.word
                pending = Word(joined, pending.start, word.end, pending.probability)
            continue
        if pending is not None:
            word = Word(pending.word + word.word, pending.start, word.end, word.probability)
            first, pending = pending_first, None
        if merged and text and all(ch in append for ch in text):
            last = merged[-1]
            merged[-1] = Word(last.word + word.word, last.start, last.end, last.probability)
        else:
            merged.append(word)
            firsts.append(first)
    return merged, firsts


def word_anomaly(word: Word) -> float:
    """How unlike a spoken word a timed word looks (openai-whisper's score): improbable
    (p < 0.15), too short (< 0.133 s) or too long (> 2 s). Hallucinated words over silence
    or noise tend to be all three."""
    duration = word.end - word.start
    score = 1.0 if word.probability < 0.15 else 0.0
    if duration < 0.133:
        score += (0.133 - duration) * 15
    if duration > 2.0:
        score += duration - 2.0
    return score


def anomaly(words: list[Word]) -> tuple[float, int]:
    """The summed `word_anomaly` of a segment's first eight words (punctuation aside), and how
    many words that is."""
    words = [w for w in words if w.word.strip() not in PREPEND_PUNCTUATION + APPEND_PUNCTUATION]
    return sum(word_anomaly(w) for w in words[:8]), len(words[:8])


def is_anomalous(words: list[Word]) -> bool:
    """A segment whose first eight words (punctuation aside) score 3 or more, or score about one
    per word: likely invented."""
    score, count = anomaly(words)
    return count > 0 and (score >= 3 or score + 0.01 >= count)
