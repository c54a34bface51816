"""Long-form transcription: the seek logic, segments and timestamps, batching across files,
the fallback and no-speech safeguards, EAS per window, and input checks."""

import importlib
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import DATA, FIXTURES

from whisper_eas import (
    DecodingOptions,
    EASConfig,
    Safeguards,
    SpeechBudget,
    TopK,
    Truncate,
    decode,
    load_audio,
    transcribe,
)
from whisper_eas.decoding import detect_language
from whisper_eas.model import EncoderOutput
from whisper_eas.segments import SAMPLES_PER_TIMESTAMP, split_segments
from whisper_eas.sparsify import speech_tokens
from whisper_eas.windows import Window, encode, file_mel

TB = 1000  # a made-up timestamp_begin for the seek tests: <|0.00|> is id 1000
WINDOW = 480_000


def test_segments_close_with_timestamp_pairs_and_seek_moves_to_the_last_complete_one():
    # <|0.00|> a <|2.00|><|2.40|> b   (the second segment never closed: decode it again)
    segments, advance, used = split_segments([TB, 1, TB + 100, TB + 120, 2], TB, WINDOW)
    assert segments == [(0, 100 * SAMPLES_PER_TIMESTAMP, [1])]
    assert advance == 100 * SAMPLES_PER_TIMESTAMP
    assert used == 3  # the unfinished "<|2.40|> b" is decoded again: not part of the prompt


def test_a_window_ending_on_a_lone_timestamp_is_consumed_whole():
    # <|0.00|> a <|2.00|><|2.40|> b <|4.00|>  (then end-of-text: all the speech was heard)
    segments, advance, used = split_segments([TB, 1, TB + 100, TB + 120, 2, TB + 200], TB, WINDOW)
    assert [(s, e) for s, e, _ in segments] == [(0, 32_000), (120 * 320, 200 * 320)]
    assert [text for _, _, text in segments] == [[1], [2]]
    assert advance == WINDOW and used == 6


def test_no_complete_segment_consumes_the_window():
    segments, advance, used = split_segments([TB + 5, 1, 2], TB, WINDOW)
    assert segments == [(5 * 320, WINDOW, [1, 2])] and advance == WINDOW and used == 3
    segments, advance, _ = split_segments([TB, 1, 2, TB + 50], TB, 300_000)  # last stamp ends it
    assert segments == [(0, 50 * 320, [1, 2])] and advance == 300_000


def long_inputs():
    jfk = load_audio(DATA / "jfk.flac")
    clips = [load_audio(c) for c in FIXTURES[:4]]
    gap = np.zeros(8000, dtype=np.float32)
    joined = np.concatenate([x for clip in clips for x in (clip, gap)])  # ~40 s, 4 speakers
    # jfk three times in a row compresses like a loop (ratio 2.6 > 2.4) and falls back to
    # sampling; with another clip between them it is ordinary speech.
    return [np.concatenate([jfk, gap, clips[3], gap, jfk]), joined]


def test_long_files_in_one_batch_equal_the_files_one_by_one(tiny):
    inputs = long_inputs()
    batched = transcribe(tiny, inputs, batch_size=2)
    for wave, together in zip(inputs, batched):
        alone = transcribe(tiny, wave)
        assert together.text == alone.text
        assert [(s.start, s.end) for s in together.segments] == [
            (s.start, s.end) for s in alone.segments
        ]
    assert batched[0].text.count("fellow Americans") == 2


def batch_of_eight():
    """Short clips, a multi-window recording, a recording that falls back to sampling (jfk three
    times compresses like a loop), and silence."""
    jfk, gap = load_audio(DATA / "jfk.flac"), np.zeros(8000, dtype=np.float32)
    clips = [load_audio(c) for c in FIXTURES[:5]]
    repeated = np.concatenate([jfk, gap, jfk, gap, jfk])
    return [*clips, long_inputs()[1], repeated, np.zeros(160_000, dtype=np.float32)]


@pytest.mark.parametrize("dtype, eas", [("float32", None), ("float32", "recommended"),
                                        ("int8", None), ("int8", "recommended")])  # fmt: skip
def test_a_files_tokens_are_the_same_alone_and_in_a_batch_of_eight(tiny, tiny_int8, dtype, eas):
    """Batch invariance: every row has its own activation scales (int8), EAS decision,
    fallback path, length limit and random draws, and its numbers do not depend on its
    neighbours (tokens and log-probabilities are compared exactly)."""
    model = tiny if dtype == "float32" else tiny_int8
    eas = EASConfig.recommended("tiny.en") if eas else None
    inputs = batch_of_eight()
    # Each file whole (test_parts.py checks a file cut into parts), alone a batch of one row.
    together = transcribe(model, inputs, eas=eas, batch_size=8, max_parts=1)
    for i, wave in enumerate(inputs):
        alone = transcribe(model, wave, eas=eas, batch_size=8, max_parts=1)
        assert together[i].tokens == alone.tokens, i
        assert [s.avg_logprob for s in together[i].segments] == [
            s.avg_logprob for s in alone.segments
        ], i
        assert together[i].fallbacks == alone.fallbacks, i
    assert together[6].fallbacks.get("temperature", 0) >= 1  # the sampled retries were compared
    assert together[7].text == "" and together[7].fallbacks.get("no_speech") == 1
    if eas:  # the short clips were sparsified, except the one of 16.7 s, which would lose under
        # 500 tokens (the recommended minimum cut); the recordings' full windows were not
        cut = [not eas.keep_rule.keeps_all(1500, speech_tokens(len(w)), None) for w in inputs[:5]]
        assert cut.count(False) == 1
        assert [t.kept_tokens[0] < 1500 for t in together[:5]] == cut
        assert together[5].kept_tokens[0] == 1500


def test_a_long_files_last_window_is_padded_in_the_log_mel_as_openai_whisper_pads_it():
    module = importlib.import_module("whisper_eas.transcribe")  # the package exports a function
    wave = long_inputs()[1]  # ~40 s: a full window, then a partial one
    state = module._File(0, len(wave), module.file_mel(wave, 80), seek=480_000)
    window, content = state.window(), len(wave) // 160 - 3000
    assert window.mel.shape == (80, 3000) and window.n_samples == len(wave) - 480_000
    assert torch.equal(window.mel[:, :content], state.mel[:, 3000 : 3000 + content])
    assert (window.mel[:, content:] == 0).all()  # zeros after the audio, not the mel of silence
    clip = wave[:160_000]  # a file's only window keeps transformers' features (padded waveform)
    only = module._File(0, len(clip), module.file_mel(clip, 80)).window()
    assert torch.equal(only.mel, module.file_mel(clip, 80)[:, :3000])
    assert (only.mel[:, 1002:] == only.mel.max() - 2).all()  # the floor: 8 decades, /4


def test_timestamps_never_decrease_and_stay_within_the_audio(tiny):
    for result in transcribe(tiny, long_inputs()):
        times = [t for s in result.segments for t in (s.start, s.end)]
        assert times == sorted(times), times
        assert 0.0 <= times[0] and times[-1] <= result.duration + 1e-9
        assert result.windows >= 2 and all(s.text for s in result.segments)


def test_silence_and_a_short_noise_give_no_text(tiny):
    noise = (0.05 * np.random.default_rng(0).standard_normal(4800)).astype(np.float32)  # 0.3 s
    for wave in (np.zeros(160_000, dtype=np.float32), noise):
        for eas in (None, EASConfig.recommended("tiny.en")):
            result = transcribe(tiny, wave, eas=eas)
            assert result.text == "" and result.segments == []
            # the recommended truncation drops padding only: a silent window is not redone
            assert result.fallbacks == {"no_speech": 1}


def test_hallucination_silence_threshold_drops_text_invented_in_trailing_silence(tiny):
    """A clip, 15 s of noise, the clip again, 12 s of silence: tiny.en invents a third copy of
    the sentence in the silence; openai's rule (plus the file's end counting as silence)
    drops it, counts it, and keeps both real copies. (The rule alone, without our VAD check,
    which would not decode the trailing silence at all: see the next test.) Strictly
    sequential, as openai-whisper: cut into parts, the file's end is a window of its own."""
    wave = clip_noise_clip_silence()
    plain = transcribe(tiny, wave, vad_check=False, batch_size=1)
    assert plain.segments[-1].start >= 30.0  # the invented copy, in the silence
    result = transcribe(
        tiny, wave, hallucination_silence_threshold=2.0, vad_check=False, batch_size=1
    )
    assert [s.start < 27.0 for s in result.segments] == [True, True]
    assert result.fallbacks == {"hallucination": 2} and result.segments[0].words


def test_the_vad_check_does_not_decode_a_files_end_without_speech(tiny):
    """The same audio with the VAD check (its stretches decoded, not skipped): the window left
    after the second copy holds no speech the VAD hears, so it is not decoded and nothing is
    invented there; it counts as a no-speech window."""
    result = transcribe(tiny, clip_noise_clip_silence(), skip_silence=None, batch_size=1)
    assert [s.start < 27.0 for s in result.segments] == [True, True]
    assert result.fallbacks["no_speech"] >= 1


def clip_noise_clip_silence() -> np.ndarray:
    clip = load_audio(DATA / "1272-128104-0000.flac")
    noise = (0.01 * np.random.default_rng(0).standard_normal(16000 * 15)).astype(np.float32)
    return np.concatenate([clip, noise, clip, np.zeros(16000 * 12, dtype=np.float32)])


def test_a_squeezed_repeat_of_a_segment_just_before_is_dropped():
    """base wrote a recording's sentence again in its 0.7 s last window, 11 words squeezed
    into it: text already read, not audio; so did a clause of a sentence just before, pieces
    of two, and a sentence six segments back. A repeat at a speaking pace, or a squeezed
    segment that repeats nothing, stays."""
    module = importlib.import_module("whisper_eas.segments")

    def segment(text, start, end):
        return module.Segment(start, end, text, [], 0.0, 1.0, 0.0, 0.0, 1500, [])

    said = "And I could do nothing but clutch at her to make her my possession."
    earlier = [segment("What alternative was there for her?", 170.0, 172.0),
               segment(said, 176.8, 182.4)]  # fmt: skip
    echo = segment(said.replace("And I", "I"), 200.6, 201.3)
    new = segment("Something new, said quickly in no time at all.", 201.3, 201.4)
    again = segment(said, 190.0, 195.0)  # said twice, at a speaking pace
    assert module.drop_squeezed_repeats([echo, new, again], earlier) == [new, again]
    assert module.drop_squeezed_repeats([earlier[1], echo], []) == [earlier[1]]  # same window
    clause = segment("And I could do nothing but clutch at her.", 200.6, 201.3)  # 9 of 14 words
    assert module.drop_squeezed_repeats([clause, new], earlier) == [new]
    # base (data/gaps_music, 174-84280): the first words of one segment and the last of
    # the next but one, in 0.48 s
    earlier = [
        segment("The most poetry and most literature, and particularly the literature of the "
                "past, is", 6.96, 13.04),
        segment("this coordinate with the vastness and variety, the reserves and resources and "
                "recuperations", 13.04, 18.76),
        segment("of life as we live it today.", 18.76, 20.6),
        segment("It is the expression of life under cruder and more rigid conditions than ours.",
                22.54, 26.9),
    ]  # fmt: skip
    squeezed = "The most poetry and most literature of life as we live it today."
    pieces = segment(squeezed, 26.9, 27.38)
    assert module.drop_squeezed_repeats([pieces, new], earlier) == [new]
    # base with --eas (data/windows 1919-142785-w041): a window's first sentence again in its
    # 0.8 s tail, six segments later, 7.7 words a second
    first = segment("Mode. Mix all the ingredients well together, carefully mincing them very "
                    "finely.", 0.0, 6.0)  # fmt: skip
    later = [segment(f"A sentence of its own, number {n}, read at a speaking pace.", t, t + 4.0)
             for n, t in enumerate((6.0, 10.0, 14.0, 18.0, 22.0))]  # fmt: skip
    tail = segment("Mix all the ingredients well together.", 29.0, 29.775)
    assert module.drop_squeezed_repeats([tail], [first, *later]) == []
    calm = segment("Mix all the ingredients well together.", 29.0, 30.2)  # 5 words a second
    assert module.drop_squeezed_repeats([calm], [first, *later]) == [calm]


def test_invented_words_in_a_window_without_speech_are_dropped():
    """base, on a window that began on a synthetic note the VAD heard as speech for a second,
    wrote the sentence before it again: no-speech probability 0.9, words improbable and most
    of no length (data/gaps' kind, 2803-161169). The same words with a low no-speech
    probability, or words that look spoken, stay; so does a segment without words, and a lone
    improbable word at a window's start (base on a gap-free recording: "them.", a real word)."""
    from whisper_eas.segments import Segment, drop_invented
    from whisper_eas.timing import Word

    def segment(words, no_speech_prob):
        timed = [Word(w, a, b, p) for w, a, b, p in words]
        text = "".join(w for w, *_ in words)
        return Segment(timed[0].start, timed[-1].end, text, [], -0.8, 1.5, no_speech_prob,
                       0.2, 1500, timed)  # fmt: skip

    invented = [(" The", 113.78, 114.6, 0.0), (" light", 114.6, 115.12, 0.01),
                (" of", 115.12, 115.12, 0.04), (" his", 115.12, 115.12, 0.0),
                (" lamp", 115.12, 115.22, 0.0), (" fall", 115.22, 116.22, 0.0)]  # fmt: skip
    spoken = [(" It", 21.74, 21.86, 0.99), (" was", 21.86, 22.02, 1.0),
              (" fatal.", 22.02, 22.34, 0.99)]  # fmt: skip
    doubted, sure = segment(invented, 0.9), segment(invented, 0.1)
    quiet = segment(spoken, 0.9)
    wordless = segment(invented, 0.9)
    wordless.words = []
    lone = segment([(" them.", 23.22, 23.46, 0.1)], 0.87)
    assert drop_invented([doubted, sure, quiet, wordless, lone]) == [sure, quiet, wordless, lone]


def test_a_segment_with_far_fewer_words_than_its_speech_is_decoded_again():
    """base wrote 16 words for 10.2 s of speech (the speaker's segments run 3.5 words a
    second) and dropped the 21 words after them: the window is cut before that segment and
    the next one starts there. The window's first segment, or one at the speaker's pace over
    a pause, is kept."""
    module = importlib.import_module("whisper_eas.transcribe")
    timestamp_begin = 50_000

    def segment(start, end, n_words):
        return module.Segment(start, end, " ".join(["word"] * n_words), [7] * n_words,
                              0.0, 1.0, 0.0, 0.0, 1500)  # fmt: skip

    def outcome(*segments):
        tokens = [t for s in segments for t in (timestamp_begin, *s.tokens, timestamp_begin)]
        return module.WindowOutcome(list(segments), 480_000, tokens, silence=False)

    request = module.WindowRequest(module.Window(None, 480_000), seek=0, previous=[],
                                   language=None)  # fmt: skip
    pauses = [(16_000 * 20, 16_000 * 24)]  # 4 s without speech at 20-24 s
    paced = [segment(0.0, 4.0, 14), segment(4.0, 8.0, 14), segment(8.0, 12.0, 14)]
    rates = []
    thin = outcome(*paced, segment(12.0, 26.0, 16))  # 10 s of speech, 16 words
    cut = module.cut_at_thin_segment(thin, request, pauses, rates, timestamp_begin)
    assert cut.thin and cut.segments == paced and cut.advance == 12 * 16_000
    assert cut.prompt_tokens == thin.prompt_tokens[: 3 * 16] and len(rates) == 3
    over_a_pause = outcome(*paced, segment(12.0, 26.0, 30))  # 3 words/s of its speech
    assert not module.cut_at_thin_segment(over_a_pause, request, pauses, [], timestamp_begin).thin
    first = outcome(segment(12.0, 26.0, 16), *paced)  # decoded again, it would read the same
    assert not module.cut_at_thin_segment(first, request, pauses, rates, timestamp_begin).thin
    # ...unless the window had a prompt: then it is decoded again without it (base int8 wrote
    # 12 words for 11.4 s under its prompt, all 35 without), and nothing of it is kept
    prompted = replace(request, previous=[7] * 20)
    again = module.cut_at_thin_segment(first, prompted, pauses, list(rates), timestamp_begin)
    assert again.thin and again.segments == [] and again.advance == 0 and not again.prompt_tokens
    state = module._File(0, 480_000, None, history=[7] * 20, seek=16_000)
    audio = EncoderOutput(torch.zeros(1, 1500, 4), None)
    state.record(module.Attempt(result_with(0.0, 0.0, -0.2, ""), audio, None), again)
    assert state.seek == 16_000 and state.history[state.prompt_start :] == []


def test_after_a_sparsified_window_skipped_speech_the_next_is_decoded_without_eas(tiny):
    """With EAS, tiny.en skipped 20 words of a window, and again when the window was decoded
    from the thin segment on: a window cut there (the `thin` fallback) is followed by one
    encoded densely, whose text is EAS off's; the window after that one takes EAS again."""
    module = importlib.import_module("whisper_eas.transcribe")
    wave = load_audio(DATA / "1272-128104-0000.flac")
    state = module._File(0, len(wave), module.file_mel(wave, 80))
    result = result_with(0.0, 0.0, -0.2, "")

    def recorded(kept: int, thin: bool) -> bool:
        audio = EncoderOutput(torch.zeros(1, kept, 4), torch.arange(kept)[None])
        outcome = module.WindowOutcome([], 0, [], silence=False, thin=thin)
        state.record(module.Attempt(result, audio, None), outcome)
        return state.request().dense

    assert recorded(800, thin=True)  # sparsified and thin: the next window is dense
    assert not recorded(800, thin=False)
    assert not recorded(1500, thin=True)  # EAS kept every token: nothing to undo
    eas = EASConfig(layer=1, rule=Truncate(padding_tokens=0))
    dense = replace(state.request(), dense=True)
    options, rules = DecodingOptions(), Safeguards()
    sparse, undone = module.decode_windows(tiny, [state.request(), dense], options, eas, rules)
    [alone] = module.decode_windows(tiny, [state.request()], options, None, rules)
    assert sparse.audio.kept_counts()[0] < 1500 == undone.audio.kept_counts()[0]
    assert undone.result.tokens == alone.result.tokens
    assert undone.result.avg_logprob == alone.result.avg_logprob


def test_the_seek_follows_the_last_word_unless_it_was_stretched_over_speech():
    """openai-whisper's seek goes to the last word's end. tiny.en's aligner stretched "I
    thought I had" 3.1 s past the segment's decoded end, over speech the model never wrote:
    then the seek stays at the decoded end. Over a pause, or a little past it, the word wins."""
    module = importlib.import_module("whisper_eas.segments")
    seek, decoded_end = 16_000 * 45, 16_000 * 72

    def outcome(last_word_end):
        segment = module.Segment(60.0, last_word_end, "I thought I had", [1], 0.0, 1.0, 0.0,
                                 0.0, 1500)  # fmt: skip
        return module.WindowOutcome([segment], decoded_end - seek, [], silence=False)

    advance = lambda end, pauses=None: module.advance_to_word_end(outcome(end), seek, pauses)  # noqa: E731
    assert advance(75.0) == decoded_end - seek  # 3 s past it: stretched
    assert advance(75.0, pauses=[]) == decoded_end - seek  # 3 s of speech past it
    assert advance(75.0, pauses=[(16_000 * 72, 16_000 * 74.5)]) == 16_000 * 30  # over a pause
    assert advance(72.5) == 16_000 * 27.5  # half a second past it: the word's end


def test_skip_hallucinations_rules_on_hand_made_windows():
    module = importlib.import_module("whisper_eas.segments")
    from whisper_eas.timing import Word

    def segment(start, end, words):
        return module.Segment(start, end, "x", [1] * len(words), 0.0, 1.0, 0.0, 0.0, 1500, words)

    good = lambda t: [Word(" a", t, t + 0.3, 0.9), Word(" b", t + 0.3, t + 0.6, 0.9)]  # noqa: E731
    bad = lambda t: [Word(" a", t, t, 0.01), Word(" b", t, t, 0.01)]  # noqa: E731
    request = module.WindowRequest(module.Window(None, 480_000), seek=160_000, previous=[],
                                   language=None)  # fmt: skip
    skip = lambda outcome: module.skip_hallucinations(  # noqa: E731
        outcome, request, 2.0, 10.0, file_seconds=100.0, timestamp_begin=1000
    )
    # An invented opening after 8 s of silence: nothing kept, decoded again from 18 s.
    opening = module.WindowOutcome([segment(18.0, 19.0, bad(18.0))], 480_000, [1000, 1, 1], False)
    out = skip(opening)
    assert out.segments == [] and out.advance == 8 * 16000 and out.skipped_hallucination
    # Real speech, then an invented segment with silence on both sides: cut there.
    tokens = [1000, 1, 1, 1010, 1200, 1, 1, 1210]
    speech = [segment(10.5, 11.1, good(10.5)), segment(30.0, 30.1, bad(30.0))]
    out = skip(module.WindowOutcome(speech, 480_000, tokens, False, heard_to_the_end=True))
    assert [s.start for s in out.segments] == [10.5] and out.prompt_tokens == tokens[:4]
    assert out.advance == 20 * 16000 and out.skipped_hallucination  # seek to 30 s
    # Nothing anomalous: the window stands as decoded.
    fine = module.WindowOutcome([segment(10.5, 11.1, good(10.5))], 16000, [1000, 1, 1, 1010],
                                False, heard_to_the_end=True)  # fmt: skip
    assert skip(fine) == fine


def test_eas_window_that_looks_broken_is_redone_without_eas(tiny):
    """With a threshold every decode fails, each sparsified window is redone dense, once."""
    strict = Safeguards(temperatures=(0.0,), compression_ratio_threshold=0.0)
    result = transcribe(tiny, DATA / "jfk.flac", eas=EASConfig(2, TopK(0.5)), safeguards=strict)
    assert result.fallbacks["eas_off"] == 1 and result.kept_tokens == [1500]
    plain = transcribe(tiny, DATA / "jfk.flac", eas=EASConfig(2, TopK(0.5)))
    assert "eas_off" not in plain.fallbacks and plain.kept_tokens == [750]


@pytest.mark.parametrize("as_keywords", [False, True])
def test_temperature_fallback_is_counted(tiny, as_keywords):
    """openai-whisper's keywords and a Safeguards give the same rules."""
    strict = dict(temperature=(0.0, 0.5), logprob_threshold=0.0, no_speech_threshold=None)
    if not as_keywords:
        strict = dict(
            safeguards=Safeguards(temperatures=(0.0, 0.5), logprob_threshold=0.0,
                                  no_speech_threshold=None)
        )  # fmt: skip
    result = transcribe(tiny, DATA / "jfk.flac", **strict)
    assert result.fallbacks["temperature"] == 1
    assert result.segments[0].temperature == 0.5


def test_openai_thresholds_are_checked_and_not_given_twice(tiny):
    jfk = DATA / "jfk.flac"
    with pytest.raises(ValueError, match="temperature.*not both"):
        transcribe(tiny, jfk, temperature=0.5, safeguards=Safeguards())
    with pytest.raises(ValueError, match="temperatures must be numbers from 0 up"):
        transcribe(tiny, jfk, temperature=(0.0, -0.2))
    with pytest.raises(ValueError, match="logprob_threshold must be a number or None"):
        transcribe(tiny, jfk, logprob_threshold="-1")
    single = transcribe(tiny, jfk, temperature=0.0, logprob_threshold=0.0)  # no retry to take
    assert "temperature" not in single.fallbacks and single.segments[0].temperature == 0.0


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("temperatures", (), "non-empty"),
        ("temperatures", (0.0, float("nan")), "from 0 up"),
        ("no_speech_threshold", "0.6", "number or None"),
        ("silence_no_speech_threshold", float("inf"), "number or None"),
        ("min_words_per_heard_s", -1.0, ">= 0"),
        ("vad_speech_seconds", None, ">= 0"),
        ("silence_max_words", 2.5, "whole number"),
    ],
)
def test_safeguards_refuse_bad_values_by_name(field, value, message):
    """A Safeguards built by hand is checked where it is made, not inside a decode."""
    with pytest.raises(ValueError, match=f"{field} must be .*{message}"):
        Safeguards(**{field: value})
    assert Safeguards(temperatures=[0, 0.5]).temperatures == (0.0, 0.5)
    assert Safeguards(min_words_per_heard_s=0, logprob_threshold=None).logprob_threshold is None


def test_model_transcribe_is_transcribe(tiny):
    """openai-whisper's and faster-whisper's spelling, `model.transcribe(audio, ...)`."""
    jfk = DATA / "jfk.flac"
    assert tiny.transcribe(jfk, temperature=0.0).text == transcribe(tiny, jfk).text


def test_carry_initial_prompt_is_the_hotwords(tiny):
    """openai-whisper's carry_initial_prompt: the prompt in every window, once in the first."""
    jfk, words = DATA / "jfk.flac", "Ask not. Ask what you can do."
    carried = transcribe(tiny, jfk, initial_prompt=words, carry_initial_prompt=True)
    assert [s.tokens for s in carried.segments] == [
        s.tokens for s in transcribe(tiny, jfk, hotwords=words).segments
    ]
    with pytest.raises(ValueError, match="give hotwords or carry_initial_prompt, not both"):
        transcribe(tiny, jfk, initial_prompt=words, hotwords=words, carry_initial_prompt=True)


def test_speech_budget_keeps_every_speech_token_and_rows_keep_their_own_count(base):
    """Rows of one batch keep different counts (key masks downstream); each row's result
    equals the row alone."""
    clips = [DATA / "jfk.flac", FIXTURES[0], FIXTURES[3]]
    eas = EASConfig(2, SpeechBudget(padding_tokens=100))
    together = transcribe(base, [str(c) for c in clips], eas=eas, batch_size=3)
    for clip, result in zip(clips, together):
        alone = transcribe(base, str(clip), eas=eas)
        speech = -(-len(load_audio(clip)) // 320)
        assert result.kept_tokens == alone.kept_tokens == [speech + 100]
        assert result.tokens == alone.tokens, clip.name


def test_windows_encoded_one_at_a_time_equal_the_batched_encoder(tiny):
    """`encode` runs one window at a time (faster on the CPU, and a row's own bits on CUDA)
    and joins the rows: the same features (to float32 rounding: the batched convolutions and
    attention split their work by the batch's size), kept indices and masks as the encoder on
    the whole batch."""
    waves = [load_audio(DATA / "jfk.flac"), load_audio(FIXTURES[0])[:100_000]]
    windows = [Window(file_mel(w, 80)[:, :3000], len(w)) for w in waves]
    windows.append(Window(windows[0].mel, 480_000))  # a full window: keeps all 1500
    for eas in (None, EASConfig(1, SpeechBudget(padding_tokens=50))):
        alone = encode(tiny, windows, eas)
        mel = torch.stack([w.mel for w in windows])
        n_speech = [-(-w.n_samples // 320) for w in windows]
        with torch.inference_mode():
            batched = tiny.network.encoder(mel, eas=eas, n_speech=n_speech)
        assert alone.kept_counts() == batched.kept_counts()
        for row, count in enumerate(alone.kept_counts()):
            torch.testing.assert_close(
                alone.features[row, :count], batched.features[row, :count], rtol=0, atol=1e-4
            )
        if eas is not None:
            assert torch.equal(alone.kept[alone.mask], batched.kept[batched.mask])


def test_speech_budget_drops_nothing_on_a_full_window(base):
    full = np.tile(load_audio(DATA / "jfk.flac"), 3)[:480_000]
    result = transcribe(base, full, eas=EASConfig(2, SpeechBudget()))
    assert result.kept_tokens[0] == 1500


@pytest.mark.parametrize(
    "audio, error, message",
    [
        (np.zeros(16000, dtype=np.int16), ValueError, "float32 or float64 waveform"),
        (np.zeros(16000, dtype=np.int32), ValueError, "got dtype int32"),
        (np.zeros((2, 16000), dtype=np.float32), ValueError, "mono"),
        (np.zeros(0, dtype=np.float32), ValueError, "empty audio"),
        (np.r_[np.zeros(8000), np.nan, np.inf], ValueError, "2 samples that are NaN or infinite"),
        (torch.full((16000,), float("nan")), ValueError, "the first at 0.00 s"),
        (load_audio(DATA / "jfk.flac") * 32768, ValueError, "integer PCM stored as floats"),
        ((str(DATA / "jfk.flac"),), TypeError, "as a list, not a tuple"),
        ([1, 2, 3], TypeError, "pass one waveform as a NumPy array"),
        ([0.0] * 16000, TypeError, "these are numbers"),
        ([str(DATA / "jfk.flac"), 3], TypeError, "got int"),
    ],
)
def test_bad_audio_is_refused_by_name(tiny, audio, error, message):
    with pytest.raises(error, match=message):
        transcribe(tiny, audio)


def test_eas_must_be_a_config(tiny):
    with pytest.raises(TypeError, match="eas must be an EASConfig"):
        transcribe(tiny, DATA / "jfk.flac", eas=(2, 0.5))


def test_language_is_detected_once_per_file(base, monkeypatch):
    """From the file's first window; cut into parts, from the first part's, in the batch that
    decodes it (no encoder pass of its own), and every part takes it."""
    calls = []
    windows = importlib.import_module("whisper_eas.windows")
    monkeypatch.setattr(
        windows, "detect_language", lambda *a, **k: calls.append(1) or detect_language(*a, **k)
    )
    encoded = []  # windows through the encoder
    hook = base.network.encoder.register_forward_hook(lambda m, args, out: encoded.append(args[0]))
    try:
        result = transcribe(base, long_inputs()[0])
    finally:
        hook.remove()
    assert result.parts >= 2 and result.windows == sum(len(mel) for mel in encoded)
    assert len(calls) == 1 and result.language == "en"
    assert 0.5 < result.language_probability <= 1.0  # of the window it was detected on
    assert transcribe(base, DATA / "jfk.flac", language="en").language_probability is None


def test_decoder_context_overflow_is_named(tiny):
    cache = tiny.network.decoder.new_cache(torch.zeros(1, 1500, 384))
    with pytest.raises(ValueError, match="decoder context overflow: 449 tokens > 448"):
        tiny.network.decoder(torch.zeros(1, 449, dtype=torch.long), cache)


def result_with(no_speech: float, alone: float, logprob: float, text: str):
    from whisper_eas import DecodingResult

    return DecodingResult([], text, None, logprob, no_speech, alone, 0.0, False)


def test_the_sure_silence_rule_reads_the_no_speech_probability_without_the_prompt():
    rules = Safeguards()
    # tiny.en's 1 s last window of a recording: 0.85 under its long prompt, 0.10 alone
    assert not rules.is_silence(result_with(0.852, 0.10, -0.64, "were in position."))
    assert rules.is_silence(result_with(0.948, 0.948, -0.70, "you"))  # 10 s of zeros
    assert rules.is_silence(result_with(0.70, 0.30, -1.2, "Thank you."))  # openai's own rule


def test_a_window_the_vad_hears_speech_in_is_not_silence():
    rules = Safeguards()
    # tiny.en's 4.6 s last window of a recording with gaps, "the Tupper of painting. By Harry
    # Quilter, M.A.", read as no speech under the prompt: the VAD hears 3 s of speech in it.
    unsure = result_with(0.75, 0.40, -1.3, "tucker of painting, by Harry Quilter M.A.")
    assert rules.is_silence(unsure) and rules.is_silence(unsure, heard=0.3)
    assert not rules.is_silence(unsure, heard=3.0)
    assert rules.needs_fallback(unsure, sparsified=False, seconds=4.6, heard=3.0)  # log-prob
    assert not rules.needs_fallback(unsure, sparsified=False, seconds=4.6)


def test_a_short_window_of_heard_speech_reads_the_no_speech_probability_without_the_prompt():
    rules = Safeguards()
    # tiny.en's 0.96 s left of a part after its 23 s window (data/long 1462-170142): the VAD
    # hears 0.57 s of speech, "shoulder", that openai-whisper's rule read as silence under the
    # prompt. Alone the model is sure there is speech.
    tail = result_with(0.93, 0.16, -1.04, "his shoulder.")
    assert rules.is_silence(tail)  # openai-whisper's rule: no VAD pass
    assert rules.is_silence(tail, heard=0.3)
    assert not rules.is_silence(tail, heard=0.57)
    assert rules.is_silence(result_with(0.93, 0.85, -1.04, "you"), heard=0.57)  # noise


def test_a_sentence_three_times_in_a_row_is_a_loop():
    """tiny.en over a crowd's murmur: each "I don't think that's me." its own segment, slow
    and confident, compressing to 2.0. Three in a row are a loop; short replies are not."""
    rules = Safeguards()
    loop = result_with(0.1, 0.1, -0.4, " I don't think that's me." * 3 + " Otto's folks came.")
    assert rules.needs_fallback(loop, sparsified=False, seconds=20.0, heard=15.0)
    for said in (" I don't think that's me." * 2, " Yes. Yes. Yes.", " He could." * 3):
        assert not rules.needs_fallback(result_with(0.1, 0.1, -0.4, said), False, 5.0, 4.0)


def test_a_word_four_times_in_a_row_is_a_loop():
    """tiny.en over a crowd's murmur: "The" six times, each its own segment. Said three
    times, or with commas between, a word is speech."""
    rules = Safeguards()
    loop = result_with(0.1, 0.1, -0.8, " of praise. The The The The")
    assert rules.needs_fallback(loop, sparsified=False, seconds=5.0, heard=4.0)
    for said in (" No. No. No.", " It was very, very, very, very good.", " The the the end."):
        assert not rules.needs_fallback(result_with(0.1, 0.1, -0.4, said), False, 5.0, 4.0)


def test_chinese_and_japanese_words_are_counted_without_spaces():
    """A sentence written without spaces is not one word to the safeguards' rates."""
    from whisper_eas.windows import word_count

    assert word_count(" And so, my fellow Americans...") == 5
    assert word_count("我们今天讨论的是 Whisper 模型。") == 6  # 10 characters and "Whisper"
    assert word_count("これはペンです。") == 4
    rules = Safeguards()
    sentence = result_with(0.1, 0.1, -0.3, "我们今天讨论的是语音识别模型的速度")
    assert not rules.ended_early(sentence, heard=4.0)  # 17 characters in 4 s of speech
    assert rules.ended_early(result_with(0.1, 0.1, -0.3, "我们"), heard=4.0)


def test_a_loop_in_silence_is_silence_not_a_retry():
    from whisper_eas import DecodingResult

    rules = Safeguards()
    loop = DecodingResult([], "you you you you", None, -1.4, 0.9, 0.9, 0.0, True, True)
    assert rules.is_silence(loop)
    assert not rules.needs_fallback(loop, sparsified=False, seconds=1.0)  # openai's order
    assert rules.needs_fallback(loop, sparsified=False, seconds=1.0, heard=1.0)  # speech: a loop


def test_a_loop_of_marks_is_decoded_again():
    """tiny.en wrote "//" as twenty segments after a skipped stretch's join (data/gaps' music
    kind, 1993-147149): confident, and compressing like speech (1.7). Three words without a
    letter or digit make a retry; two (an ellipsis, a dash) do not."""
    rules = Safeguards()
    said = " in a tone of inquiry. Then the mother lifted up her voice and wept."
    loop = result_with(0.14, 0.14, -0.24, said + " //" * 20)
    assert loop.compression_ratio < 2.4 and rules.needs_fallback(loop, False, 30.0)
    assert not rules.needs_fallback(result_with(0.14, 0.14, -0.24, said + " ... -"), False, 30.0)
    assert not rules.needs_fallback(result_with(0.1, 0.1, -0.2, "고소한 사람 ."), False, 3.0)


def test_a_window_with_more_words_than_its_speech_and_no_confidence_is_implausible():
    rules = Safeguards()
    # tiny.en at temperature 1.0 on the 1.2 s left after a recording's last full window (the
    # end of its last word): 15 words, log-prob -3.8, the VAD hearing ~1 s of speech.
    invented = (
        "And for the destruction of sanctified Sketch, it was only a sudden almost multiple body."
    )
    assert rules.is_implausible(result_with(0.66, 0.5, -3.77, invented), heard=1.1)
    assert not rules.is_implausible(result_with(0.66, 0.5, -0.5, invented), heard=1.1)  # sure
    assert not rules.is_implausible(result_with(0.66, 0.5, -3.77, invented), heard=3.0)
    assert not rules.is_implausible(result_with(0.66, 0.5, -3.77, invented))  # no VAD pass
    unsure = result_with(0.75, 0.40, -1.3, "tucker of painting, by Harry Quilter M.A.")
    assert not rules.is_implausible(unsure, heard=3.0)  # the 4.6 s last window above


def test_a_short_windows_loop_stops_at_what_its_audio_can_hold_and_is_decoded_again(
    tiny, monkeypatch
):
    """0.5 s of a cut word (1.0-1.5 s of 1272-128104-0000): at temperature 0.6 tiny.en wrote
    97 tokens of ". . ." and its draws ran to 224; a decode now stops at
    `token_limit(0.5)` = 28 tokens, and one that reaches it is decoded hotter."""
    windows = importlib.import_module("whisper_eas.windows")
    decodes = []

    def recorded(*args, **kwargs):
        results = decode(*args, **kwargs)
        decodes.extend(results)
        return results

    monkeypatch.setattr(windows, "decode", recorded)
    cut = load_audio(DATA / "1272-128104-0000.flac")[16000:24000]
    result = transcribe(tiny, cut)
    limit = windows.token_limit(0.5)
    assert limit == 28 and max(len(r.tokens) for r in decodes) <= limit
    looped = [i for i, r in enumerate(decodes) if r.hit_token_limit]
    assert looped and looped[-1] < len(decodes) - 1  # each loop was decoded again
    assert result.fallbacks["temperature"] == 1


def test_a_window_without_timestamps_that_ends_early_is_decoded_again_with_them(tiny, monkeypatch):
    """Without timestamp tokens a window is one segment: tiny.en once ended a part holding 22 s
    of speech after its first two words (data/long 1988-147956). Here every greedy decode
    without timestamps is cut to its first two tokens, as that one ended: jfk's window is
    decoded again with timestamp tokens, and their text is the window's whole sentence (as
    decoded with timestamps: "do for you ask", where without them "do for you, ask")."""
    windows = importlib.import_module("whisper_eas.windows")

    def ending_early(model, audio, options, *args, **kwargs):
        results = decode(model, audio, options, *args, **kwargs)
        if options.timestamps or options.temperature > 0:
            return results
        return [
            replace(r, tokens=r.tokens[:2], text=tiny.tokenizer.decode(r.tokens[:2]))
            for r in results
        ]

    assert not transcribe(tiny, DATA / "jfk.flac", timestamps=False).fallbacks  # no retry
    stamped = transcribe(tiny, DATA / "jfk.flac")  # with timestamp tokens
    monkeypatch.setattr(windows, "decode", ending_early)
    result = transcribe(tiny, DATA / "jfk.flac", timestamps=False)
    assert result.text == stamped.text and result.fallbacks == {"timestamps": 1}
    assert all(t < tiny.tokenizer.timestamp_begin for t in result.tokens)  # text tokens only
    assert result.segments[0].start == 0.0 and len(result.segments) == 1
    rules, short = Safeguards(), result_with(0.1, 0.1, -0.3, "And so")
    assert rules.ended_early(short, heard=8.0)  # 2 words for 8 s of speech
    assert not rules.ended_early(short, heard=None)  # no VAD pass: nothing to compare with
    assert not rules.ended_early(result_with(0.1, 0.1, -0.3, "And so my fellow"), heard=3.0)
    assert not rules.ended_early(result_with(0.95, 0.95, -0.7, "you"), heard=0.5)  # silence


def test_no_speech_alone_is_the_unprompted_decodes_no_speech_probability(tiny):
    wave = load_audio(FIXTURES[0])
    audio = encode(tiny, [Window(file_mel(wave, 80)[:, :3000], len(wave))], None)
    options = DecodingOptions(timestamps=True)
    plain = decode(tiny, audio, options)[0]
    prompted = decode(tiny, audio, options, [tiny.tokenizer.encode(" Thank you. " * 20)])[0]
    assert plain.no_speech_prob_alone == plain.no_speech_prob
    assert prompted.no_speech_prob != plain.no_speech_prob
    assert abs(prompted.no_speech_prob_alone - plain.no_speech_prob) < 1e-5


def test_a_sparsified_window_with_far_fewer_words_than_its_audio_is_redone_dense():
    rules = Safeguards()
    sparse_decode = lambda text: result_with(0.01, 0.01, -0.3, text)  # noqa: E731
    assert rules.needs_fallback(sparse_decode("one two three"), sparsified=True, seconds=30.0)
    eight = "one two three four five six seven eight"
    assert not rules.needs_fallback(sparse_decode(eight), sparsified=True, seconds=30.0)
    assert not rules.needs_fallback(sparse_decode("one two three"), sparsified=False, seconds=30.0)
    silence = result_with(0.95, 0.95, -0.7, "you")
    assert rules.needs_fallback(silence, sparsified=True, seconds=10.0)  # EAS may have cut it
    # A truncation drops padding only: a quiet window it kept whole has lost nothing.
    assert not rules.needs_fallback(silence, sparsified=False, seconds=10.0)  # dense: accepted
    assert not rules.needs_fallback(silence, True, 10.0, speech_dropped=False)


def test_a_truncation_drops_no_speech_and_top_k_does(tiny):
    from whisper_eas import EASConfig, TopK, Truncate
    from whisper_eas.windows import speech_dropped

    wave = load_audio(FIXTURES[0])
    window = Window(file_mel(wave, 80)[:, :3000], len(wave))
    for rule, dropped in ((Truncate(300), False), (TopK(0.5), True)):
        audio = encode(tiny, [window, window], EASConfig(1, rule))
        assert audio.kept_counts()[0] < 1500
        assert speech_dropped(audio, 1, len(wave)) == dropped
    assert not speech_dropped(encode(tiny, [window], None), 0, len(wave))


def test_clip_timestamps_decode_only_their_spans(tiny):
    """openai-whisper's clip_timestamps: no window reaches past its clip, nothing outside the
    clips is decoded, an odd count runs the last clip to the end."""
    first, second = load_audio(DATA / "1221-135766-0001.flac"), load_audio(FIXTURES[0])
    wave = np.concatenate([first, np.zeros(3 * 16000, np.float32), second])
    later = len(first) / 16000 + 3
    only_second = transcribe(tiny, wave, clip_timestamps=f"{later}")
    assert "Quilter" in only_second.text and "God" not in only_second.text
    assert all(s.start >= later for s in only_second.segments)
    both = transcribe(tiny, wave, clip_timestamps=[0, 6.2, later])
    assert both.text.startswith("God") and "whose place" not in both.text
    assert "Quilter" in both.text and both.segments[0].end <= 6.2 + 0.02
    for bad in ("1,x", "5,2", [-1.0]):
        with pytest.raises(ValueError, match="clip_timestamps"):
            transcribe(tiny, wave, clip_timestamps=bad)
    with pytest.raises(ValueError, match="cannot be combined"):
        transcribe(tiny, wave, clip_timestamps="1", vad_filter=True)


@pytest.mark.parametrize(
    "theirs, ours",
    [
        ({}, {}),
        ({"condition_on_previous_text": False}, {"condition_on_previous_text": False}),
        ({"initial_prompt": "Quilter, Hester."}, {"initial_prompt": "Quilter, Hester."}),
        ({"hotwords": "Quilter Hester"}, {"hotwords": "Quilter Hester"}),
        ({"without_timestamps": True}, {"timestamps": False}),
        ({"word_timestamps": True}, {"word_timestamps": True}),
    ],
    ids=["default", "no-condition", "initial-prompt", "hotwords", "no-timestamps", "words"],
)
def test_sequential_long_form_equals_faster_whispers(tiny, theirs, ours):
    """Decoded whole (`batch_size=1`) without our safeguards, a 55 s file (the seven fixtures
    joined: two windows and a tail) gets faster-whisper's sequential segments, greedy, under
    its controls: the same texts, starts and ends. Where the two differ by design: a segment
    ends no later than the audio (its last one may end past it), and a window's lone segment
    starts at its opening timestamp, as transformers' (theirs at the window's start)."""
    from faster_whisper import WhisperModel as CTranslate2Whisper

    from whisper_eas.research.bench import ct2_folder

    audio = np.concatenate([load_audio(f) for f in FIXTURES])
    reference = CTranslate2Whisper(str(ct2_folder("tiny.en")), cpu_threads=2)
    segments, _ = reference.transcribe(audio, language="en", beam_size=1, **theirs)
    expected = [(s.text.strip(), s.start, s.end) for s in segments]
    result = transcribe(tiny, audio, batch_size=1, vad_check=False, skip_silence=None, **ours)
    got = [(s.text.strip(), s.start, s.end) for s in result.segments]
    duration = len(audio) / 16_000
    assert [text for text, *_ in got] == [text for text, *_ in expected]
    for (_, start, end), (_, their_start, their_end) in zip(got, expected):
        assert end == pytest.approx(min(their_end, duration), abs=0.011)
        assert start == pytest.approx(their_start, abs=0.011) or start > their_start


def test_prompt_reset_on_temperature_decides_whether_a_hot_windows_text_prompts_the_next(
    tiny, monkeypatch
):
    """jfk four times in a row (two windows) is a loop to tiny.en: its first window runs every
    retry up to temperature 1.0. At the default (openai-whisper's 0.5, faster-whisper's
    `prompt_reset_on_temperature`) that window's text does not prompt the second window; at
    1.0 it does."""
    windows_module = importlib.import_module("whisper_eas.windows")
    jfk, gap = load_audio(DATA / "jfk.flac"), np.zeros(8000, dtype=np.float32)
    repeated = np.concatenate([jfk, gap, jfk, gap, jfk, gap, jfk])
    real, prompts = windows_module.decode, []

    def spy(model, audio, options, previous, *args, **kwargs):
        prompts.append((options.temperature, len(previous[0])))
        return real(model, audio, options, previous, *args, **kwargs)

    monkeypatch.setattr(windows_module, "decode", spy)
    first_windows = [(t, 0) for t in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)]
    for reset, prompted in ((None, False), (1.0, True)):
        prompts.clear()
        options = {} if reset is None else {"prompt_reset_on_temperature": reset}
        result = transcribe(tiny, repeated, batch_size=1, **options)
        assert result.windows == 2 and prompts[:6] == first_windows
        assert (prompts[6][1] > 0) == prompted, prompts
    with pytest.raises(ValueError, match="prompt_reset_on_temperature must be a number >= 0"):
        transcribe(tiny, jfk, prompt_reset_on_temperature=-1)
