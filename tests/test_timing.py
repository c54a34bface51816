"""Word timestamps: words handed to the segments that hold their tokens, segment times fitted
to their words (openai-whisper's rules), rounded times, a DTW that never divides by zero and
takes the textbook path, and the median filter.
(Agreement with transformers' word times: tests/test_reference.py.)"""

import numpy as np
import torch
from conftest import DATA, FIXTURES

from whisper_eas import load_audio, transcribe
from whisper_eas.segments import Segment
from whisper_eas.timing import (
    add_word_timestamps,
    dtw_path,
    median_filter,
    split_words,
    standardized,
)
from whisper_eas.windows import Window, encode, file_mel


def segment(tokens: list[int]) -> Segment:
    return Segment(0.0, 11.0, "", tokens, 0.0, 1.0, 0.0, 0.0, 1500)


def test_a_segment_that_starts_with_punctuation_keeps_its_own_words(tiny):
    """The comma opening the second segment joins "there," of the first; the second segment
    must not take the third segment's first word."""
    wave = load_audio(DATA / "jfk.flac")
    audio = encode(tiny, [Window(file_mel(wave, 80)[:, :3000], len(wave))], None)
    encode_text = tiny.tokenizer.encode
    segments = [
        segment(encode_text(" Hello there")),
        segment(encode_text(", said the man and")),
        segment(encode_text(" left.")),
    ]
    prompt = tiny.tokenizer.sot_sequence(None, "transcribe", timestamps=False)
    add_word_timestamps(tiny, audio, prompt, segments, 0.0, len(wave) // 320, 0.0)
    words = [[w.word for w in s.words] for s in segments]
    assert words == [[" Hello", " there,"], [" said", " the", " man", " and"], [" left."]]


def test_chinese_and_japanese_split_into_whole_characters(base):
    """Written without spaces, a sentence is not one word: each word is a token of whole
    characters, or the tokens byte-level BPE cut one character over (as openai-whisper splits
    zh, ja, th, lo, my and yue)."""
    text = "我们讨论语音识别。これはペンです"
    tokens = base.tokenizer.encode(text)
    words = [base.tokenizer.decode(w) for w in split_words(base, tokens, "zh")]
    assert "".join(words) == text and len(words) > 8
    assert all(1 <= len(word) <= 3 and "\ufffd" not in word for word in words)  # tokens, whole
    cut_over_tokens = [w for w in split_words(base, tokens, "zh") if len(w) > 1]
    assert cut_over_tokens  # some character took two tokens and is one word
    assert len(split_words(base, tokens)) == 2  # spaced languages: "。" and the run after it
    # Invalid bytes the model wrote (a cut character) end their group, not swallow the rest.
    cut = base.tokenizer.encode("语")[:1] + base.tokenizer.encode("音识")
    groups = split_words(base, cut, "zh")
    assert [base.tokenizer.decode(g) for g in groups][-2:] == ["音", "识"]
    assert sum(groups, []) == cut


def test_standardizing_a_head_without_spread_gives_zeros_not_nan():
    heads = torch.ones(2, 5, 40)  # every token attends alike
    heads[1] = torch.rand(5, 40)
    out = standardized(heads)
    assert torch.isfinite(out).all() and (out[0] == 0).all()


def plain_dtw(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The textbook cell-by-cell DTW with openai-whisper's tie order: what `dtw_path` must
    return."""
    n, m = cost.shape
    total = np.full((n + 1, m + 1), np.inf)
    total[0, 0] = 0.0
    move = np.zeros((n + 1, m + 1), dtype=int)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            diagonal, above, left = total[i - 1, j - 1], total[i - 1, j], total[i, j - 1]
            if diagonal < above and diagonal < left:
                best, move[i, j] = diagonal, 0
            elif above < diagonal and above < left:
                best, move[i, j] = above, 1
            else:
                best, move[i, j] = left, 2
            total[i, j] = cost[i - 1, j - 1] + best
    move[0, :], move[:, 0] = 2, 1
    rows, columns, i, j = [], [], n, m
    while i > 0 or j > 0:
        rows.append(i - 1)
        columns.append(j - 1)
        i, j = [(i - 1, j - 1), (i - 1, j), (i, j - 1)][move[i, j]]
    return np.array(rows[::-1]), np.array(columns[::-1])


def test_dtw_takes_the_textbook_path():
    rng = np.random.default_rng(0)
    for n, m in [(1, 1), (1, 9), (9, 1), (4, 4), (12, 60), (60, 12), (30, 200)]:
        cost = rng.standard_normal((n, m))
        for got, expected in zip(dtw_path(cost), plain_dtw(cost)):
            np.testing.assert_array_equal(got, expected)


def test_the_median_filter_gives_torch_medians():
    x = torch.randn(3, 7, 50)
    for width in (1, 3, 7, 9):
        pad = width // 2
        padded = torch.nn.functional.pad(x.reshape(1, -1, 50), (pad, pad), mode="reflect")[0]
        expected = padded.unfold(-1, width, 1).median(dim=-1).values.reshape(x.shape)
        assert torch.equal(median_filter(x, width), expected)


def test_segments_are_fitted_to_their_words_and_times_are_rounded(tiny):
    clips = [load_audio(c) for c in FIXTURES[:4]]
    gap = np.zeros(8000, dtype=np.float32)
    wave = np.concatenate([x for clip in clips for x in (clip, gap)])  # ~40 s, two windows
    result = transcribe(tiny, wave, word_timestamps=True)
    assert result.windows >= 2
    for s in result.segments:
        assert s.words and s.start == s.words[0].start and s.end == s.words[-1].end, s
        assert all(s.start <= w.start <= w.end <= s.end for w in s.words), s
        times = [s.start, s.end, *(t for w in s.words for t in (w.start, w.end))]
        assert times == [round(t, 3) for t in times]
    for before, after in zip(result.segments, result.segments[1:]):
        assert before.end <= after.start, (before, after)
