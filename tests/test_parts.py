"""One recording as several rows: where the cuts go, and that a file cut into parts gives one
result in time order that depends on the file alone (not on the batch size or its
neighbours), streamed in time order too."""

import numpy as np
import pytest
from conftest import FIXTURES

from whisper_eas import EASConfig, load_audio, transcribe
from whisper_eas.parts import choose_cuts, split_points
from whisper_eas.research.metrics import word_error_rate
from whisper_eas.rules import Truncate
from whisper_eas.transcribe import long_form, transcribe_stream

SECOND = 16_000


def seconds(*spans: tuple[float, float]) -> list[tuple[int, int]]:
    return [(round(a * SECOND), round(b * SECOND)) for a, b in spans]


def test_a_cut_goes_in_the_middle_of_the_nearest_long_pause_else_the_longest():
    # 50 s: two parts of 25 s, a cut looked for between 12.5 s and 29.5 s. A 0.125 s pause lies
    # on the target, a 0.52 s one 1.26 s after it, a 1.56 s one further: the nearest pause of
    # 0.5 s or more wins.
    pauses = seconds((24.0, 24.125), (26.0, 26.52), (27.5, 29.06))
    assert choose_cuts(pauses, 50 * SECOND) == [420_160]  # 26.26 s
    # Only short pauses in reach: the longest of them; none past the part's limit.
    pauses = seconds((20.0, 20.25), (22.0, 22.4), (27.0, 27.1), (31.0, 33.0))
    assert choose_cuts(pauses, 50 * SECOND) == [355_200]  # 22.2 s
    assert choose_cuts([], 50 * SECOND) == []
    assert choose_cuts(pauses, 29 * SECOND) == []  # one window holds it


def test_parts_fit_one_window_where_there_are_pauses():
    # Ten minutes with a 0.6 s pause every 3 s: parts of about 28.5 s, none over 29.5 s.
    n = 600 * SECOND
    pauses = seconds(*[(t, t + 0.6) for t in range(3, 600, 3)])
    bounds = [0, *choose_cuts(pauses, n), n]
    lengths = [(b - a) / SECOND for a, b in zip(bounds, bounds[1:])]
    assert len(lengths) == 23 and max(lengths) <= 29.5 and min(lengths) >= 20
    assert all(cut % 320 == 0 for cut in bounds)
    # No pause from 10 s to 70 s: that part is longer (two windows), the rest still splits.
    pauses = seconds((10.0, 10.6), (70.0, 70.6), (85.0, 85.6))
    assert choose_cuts(pauses, 100 * SECOND) == [164_800, 1_124_800, 1_364_800]
    # At most max_parts parts.
    assert len(choose_cuts(seconds(*[(t, t + 0.6) for t in range(3, 600, 3)]), n, max_parts=4)) == 3


def test_short_recordings_and_max_parts_1_are_decoded_whole(recording):
    assert split_points(recording[: 29 * SECOND]) == []  # one window
    assert len(split_points(recording[: 35 * SECOND])) == 1  # two (since 2026-12-03: from 30 s)
    assert split_points(recording, max_parts=1) == []


@pytest.fixture(scope="module")
def recording():
    """~2 minutes: the fixtures twice, in two orders, with pauses of 0.8 s between clips."""
    clips = [load_audio(path) for path in FIXTURES]
    gap = np.zeros(12_800, dtype=np.float32)
    order = clips + clips[::-1]
    return np.concatenate([x for clip in order for x in (clip, gap)])


def test_cuts_fall_in_pauses(recording):
    cuts = split_points(recording)
    assert len(cuts) >= 3
    for cut in cuts:  # the fixtures' own edges are quiet too; the pause itself is silent
        assert np.abs(recording[cut - 800 : cut + 800]).max() < 0.05


def test_a_cut_file_is_one_result_the_same_in_any_batch(tiny, recording):
    whole = transcribe(tiny, recording, batch_size=1)
    cut = transcribe(tiny, recording)
    assert whole.parts == 1 and cut.parts >= 4
    starts = [s.start for s in cut.segments]
    assert starts == sorted(starts) and [s.id for s in cut.segments] == list(range(len(starts)))
    assert all(0 <= s.start <= s.end <= len(recording) / 16_000 for s in cut.segments)
    # The parts lose only their first window's prompt: the words barely change.
    assert word_error_rate([whole.text], [cut.text]) < 0.05
    other = load_audio(FIXTURES[3])
    for batch_size in (2, 3):
        together = transcribe(tiny, [other, recording], batch_size=batch_size)[1]
        assert together.text == cut.text
        assert [(s.start, s.end) for s in together.segments] == [
            (s.start, s.end) for s in cut.segments
        ]


def test_a_cut_file_in_int8_with_eas_is_the_same_in_any_batch(tiny_int8, recording):
    """Parts as rows with int8's per-row activation scales and EAS's per-row decisions: a part's
    tokens and log-probabilities do not follow the other rows of its batch."""
    # tiny.en's recommended truncation with every cut taken (no minimum), so that every part's
    # window is sparsified
    eas = EASConfig(1, Truncate(300))
    alone = transcribe(tiny_int8, recording, eas=eas)
    assert alone.parts >= 4 and max(alone.kept_tokens) < 1500  # every part's window sparsified
    other = load_audio(FIXTURES[3])
    for batch_size in (2, 3):
        together = transcribe(tiny_int8, [other, recording], eas=eas, batch_size=batch_size)[1]
        assert together.tokens == alone.tokens, batch_size
        assert [s.avg_logprob for s in together.segments] == [
            s.avg_logprob for s in alone.segments
        ], batch_size
        assert together.fallbacks == alone.fallbacks, batch_size


def test_segments_of_a_cut_file_are_streamed_in_time_order(tiny, recording):
    result = transcribe(tiny, recording)
    streamed = list(transcribe_stream(tiny, recording))
    assert [(s.id, s.start, s.text) for s in streamed] == [
        (s.id, s.start, s.text) for s in result.segments
    ]
    # Two rows for its parts: they finish in turn, and each is handed out when it does.
    rounds = long_form(tiny, [recording], batch_size=2)
    heard = [segments for _, segments, _ in rounds if segments]
    assert len(heard) > 1  # handed out as the parts finish, not all at the end


def test_the_language_is_detected_once_for_all_parts(base, recording):
    result = transcribe(base, recording, max_parts=2)
    assert result.parts == 2 and result.language == "en"
    assert result.language_probability > 0.5
    assert "Americans" in result.text


def test_beam_search_decodes_a_file_whole(tiny, recording):
    assert transcribe(tiny, recording, beam_size=2, max_new_tokens=8).parts == 1


def test_a_cut_file_is_decoded_with_its_pauses_shortened_in_the_files_times(tiny, monkeypatch):
    """The fixtures twice with 4 s of silence between clips: cut into parts, each pause is
    decoded as 0.8 s (fewer windows), and every segment still starts and ends where its clip
    lies in the file."""
    import importlib

    clips = [load_audio(path) for path in FIXTURES]
    gap = np.zeros(64_000, dtype=np.float32)
    audio = np.concatenate([x for clip in clips + clips[::-1] for x in (clip, gap)])
    spans, t = [], 0
    for clip in clips + clips[::-1]:
        spans.append((t / SECOND, (t + len(clip)) / SECOND))
        t += len(clip) + len(gap)
    result = transcribe(tiny, audio)
    near = lambda time: any(a - 0.5 <= time <= b + 0.5 for a, b in spans)  # noqa: E731
    assert result.parts >= 3 and all(near(s.start) and near(s.end) for s in result.segments)
    assert word_error_rate([transcribe(tiny, audio, batch_size=1).text], [result.text]) < 0.05
    module = importlib.import_module("whisper_eas.transcribe")
    monkeypatch.setattr(module, "SHORTEN_PAUSES_S", 1000.0)
    assert transcribe(tiny, audio).windows > result.windows
