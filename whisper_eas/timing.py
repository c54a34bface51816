"""Word timestamps: where each word's tokens attend in the audio, by dynamic time warping over
the cross-attention of the checkpoint's alignment heads (openai-whisper's method, as in its
`timing.py`: standardise each head over tokens, median filter over time, average the heads,
find the monotonic path of least cost).

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
    Computed one anti-diagonal at a time: cell (i, j) needs only the two diagonals before it."""
    n, m = cost.shape
    total = np.full((n + 1, m + 1), np.inf)
    total[0, 0] = 0.0
    step = np.zeros((n + 1, m + 1), dtype=np.int8)  # 0 diagonal, 1 from above, 2 from the left
    for diagonal in range(2, n + m + 1):
        i = np.arange(max(1, diagonal - m), min(n, diagonal - 1) + 1)
        j = diagonal - i
        from_diagonal, from_above, from_left = total[i - 1, j - 1], total[i - 1, j], total[i, j - 1]
        choice = np.where(
            (from_diagonal < from_above) & (from_diagonal < from_left),
            0,
            np.where((from_above < from_diagonal) & (from_above < from_left), 1, 2),
        )
        best = np.choose(choice, [from_diagonal, from_above, from_left])
        total[i, j] = cost[i - 1, j - 1] + best
        step[i, j] = choice
    step[0, :], step[:, 0] = 2, 1
    rows, columns, i, j = [], [], n, m
    while i > 0 or j > 0:
        rows.append(i - 1)
        columns.append(j - 1)
        move = step[i, j]
        i, j = (i - 1, j - 1) if move == 0 else (i - 1, j) if move == 1 else (i, j - 1)
    return np.array(rows[::-1]), np.array(columns[::-1])


def median_filter(x: Tensor, width: int) -> Tensor:
    """Median over the last axis in a sliding window of odd `width` (edges reflected)."""
    pad = width // 2
    if x.shape[-1] <= pad:
        return x
    rows = x.reshape(1, -1, x.shape[-1])  # reflect-padding wants (N, C, W)
    padded = torch.nn.functional.pad(rows, (pad, pad), mode="reflect")[0]
    return padded.unfold(-1, width, 1).median(dim=-1).values.reshape(x.shape)


def split_words(model: WhisperModel, tokens: list[int]) -> list[list[int]]:
    """Text tokens grouped into words: a word starts at a token that begins with a space or
    is punctuation (English and other space-delimited scripts)."""
    words: list[list[int]] = []
    for token in tokens:
        text = model.tokenizer.decode([token])
        starts = text.startswith(" ") or text.strip() in APPEND_PUNCTUATION + PREPEND_PUNCTUATION
        if not words or starts:
            words.append([token])
        else:
            words[-1].append(token)
    return words


@torch.inference_mode()
def alignment_matrix(
    model: WhisperModel,
    audio: EncoderOutput,
    columns: Tensor,
    prompt: list[int],
    text_tokens: list[int],
) -> tuple[Tensor, Tensor]:
    """(text tokens + 1, len(columns)) alignment scores of one window (batch row 0) over the
    audio `columns`, and the probability of each text token in the same forward pass."""
    tokenizer, decoder = model.tokenizer, model.network.decoder
    tokens = torch.tensor([[*prompt, *text_tokens, tokenizer.eot]], device=model.device)
    cache = decoder.new_cache(audio)
    cross_scores: list[Tensor] = []
    logits = decoder(tokens, cache, cross_scores=cross_scores)[0]  # (T, V)
    heads = torch.stack([cross_scores[layer][0, head] for layer, head in model.alignment_heads])
    heads = heads[..., columns].float().softmax(dim=-1)  # (A, T, S): over the speech only
    std, mean = torch.std_mean(heads, dim=-2, keepdim=True, unbiased=False)
    heads = median_filter((heads - mean) / std, MEDIAN_FILTER_WIDTH)
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
) -> None:
    """Fill `segment.words` for a window's segments (text tokens in order), in audio time.
    `audio` is the window's encoder output (batch of one); `prompt` the start sequence with
    <|notimestamps|>; `offset` the window's start in seconds."""
    text_tokens = [t for segment in segments for t in segment.tokens]
    if not text_tokens:
        return
    n_columns = audio.features.shape[1]
    positions = audio.kept[0].cpu() if audio.kept is not None else torch.arange(n_columns)
    valid = (
        audio.mask[0].cpu() if audio.mask is not None else torch.ones(n_columns, dtype=torch.bool)
    )
    columns = torch.nonzero(valid & (positions < n_speech_tokens)).flatten()  # audio, not padding
    columns = columns if len(columns) else torch.nonzero(valid).flatten()
    matrix, probs = alignment_matrix(model, audio, columns, prompt, text_tokens)
    rows, path = dtw_path(-matrix.double().cpu().numpy())
    jumps = np.diff(rows, prepend=-1).astype(bool)  # the first column each row reaches
    times = offset + positions[columns[path[jumps]]].cpu().numpy() * SECONDS_PER_TOKEN
    words = split_words(model, text_tokens)
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
    timed = merge_punctuation(timed)
    for segment in segments:  # hand each segment the words of its own tokens
        n_words = len(merge_punctuation_count(model, segment.tokens))
        segment.words, timed = timed[:n_words], timed[n_words:]


def merge_punctuation(words: list[Word]) -> list[Word]:
    """Attach opening punctuation to the next word and closing punctuation to the previous."""
    merged: list[Word] = []
    pending = None
    for word in words:
        text = word.word.strip()
        if text and all(ch in PREPEND_PUNCTUATION for ch in text) and word is not words[-1]:
            pending = word if pending is None else Word(pending.word + word.word, pending.start,
                                                        word.end, pending.probability)  # fmt: skip
            continue
        if pending is not None:
            word = Word(pending.word + word.word, pending.start, word.end, word.probability)
            pending = None
        if merged and text and all(ch in APPEND_PUNCTUATION for ch in text):
            last = merged[-1]
            merged[-1] = Word(last.word + word.word, last.start, last.end, last.probability)
        else:
            merged.append(word)
    return merged


def merge_punctuation_count(model: WhisperModel, tokens: list[int]) -> list[Word]:
    """The merged words of a token list, without times (to split words across segments)."""
    words = [Word(model.tokenizer.decode(w), 0.0, 0.0, 0.0) for w in split_words(model, tokens)]
    return merge_punctuation(words)
