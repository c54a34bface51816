"""Voice activity detection against faster-whisper's Silero (the same weights, as ONNX, run by
onnxruntime) and silero-vad's speech-region state machine: our batched module's chunk
probabilities, and our speech regions from them, on real speech with silence and noise
between."""

import re
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import DATA

from whisper_eas import load_audio, vad
from whisper_eas.vad import VadOptions, load_vad, speech_regions


@pytest.fixture(scope="module")
def package():
    threads = torch.get_num_threads()
    import silero_vad  # its import sets the process's thread count: put it back

    torch.set_num_threads(threads)
    return silero_vad


@pytest.fixture(scope="module")
def audio():
    clip, jfk = load_audio(DATA / "1272-128104-0000.flac"), load_audio(DATA / "jfk.flac")
    noise = (0.01 * np.random.default_rng(0).standard_normal(32_000)).astype(np.float32)
    silence = np.zeros(48_000, dtype=np.float32)
    return torch.from_numpy(np.concatenate([clip, silence, jfk, noise, clip]))


@pytest.fixture(scope="module")
def their_probs(audio):
    """faster-whisper's chunk probabilities (its ONNX model carries the LSTM state over its
    batch of chunks) for all but the last chunk, whose last 64 samples it zeroes."""
    from faster_whisper.vad import get_vad_model

    padded = torch.nn.functional.pad(audio, (0, -len(audio) % 512)).numpy().copy()
    probs = torch.from_numpy(get_vad_model()(padded)).reshape(-1)
    return probs[:-1]


@pytest.mark.parametrize("block", [None, 100])
def test_probabilities_equal_faster_whispers_model(audio, their_probs, block, monkeypatch):
    if block is not None:  # an hour runs BLOCK chunks at a time, the LSTM's state carried
        monkeypatch.setattr(vad, "BLOCK", block)
        assert len(their_probs) > 5 * block
    ours = load_vad()(audio)[:-1]
    assert ours.shape == their_probs.shape
    assert (ours - their_probs).abs().max() < 1e-5
    assert (their_probs > 0.5).float().mean() > 0.5 and (their_probs < 0.2).any()  # both kinds


@pytest.mark.parametrize(
    "options",
    [
        VadOptions(),
        VadOptions(min_silence_ms=2000, speech_pad_ms=400, min_speech_ms=0),  # faster-whisper's
        VadOptions(max_speech_s=3),  # over-long regions split at their longest silence
        VadOptions(max_speech_s=2, min_silence_ms=300, threshold=0.6),
    ],
)
def test_speech_regions_equal_the_packages(package, audio, their_probs, options):
    from silero_vad.utils_vad import get_speech_timestamps_from_probs

    theirs = get_speech_timestamps_from_probs(
        their_probs.tolist(),
        threshold=options.threshold,
        min_speech_duration_ms=options.min_speech_ms,
        max_speech_duration_s=options.max_speech_s,
        min_silence_duration_ms=options.min_silence_ms,
        speech_pad_ms=options.speech_pad_ms,
        audio_length_samples=len(audio),
    )
    ours = speech_regions(their_probs.tolist(), len(audio), options)
    assert ours == [(r["start"], r["end"]) for r in theirs]
    assert len(ours) >= 3


def test_vad_filter_decodes_the_speech_and_keeps_the_files_times(tiny):
    """A clip, 10 s of silence, jfk: with vad_filter the silence is cut before decoding (its
    text is that of the speech regions joined), and every segment and word time is mapped back
    into the file (jfk starts after the gap)."""
    from whisper_eas import transcribe

    clip, jfk = load_audio(DATA / "1089-134691-0000.flac"), load_audio(DATA / "jfk.flac")
    wave = np.concatenate([clip, np.zeros(160_000, dtype=np.float32), jfk])
    speech = transcribe(tiny, vad.speech_map(wave).join(wave))
    filtered = transcribe(tiny, wave, word_timestamps=True, vad_filter=True)
    assert filtered.text == speech.text and filtered.duration == len(wave) / 16_000
    clip_end, jfk_start = len(clip) / 16_000, (len(clip) + 160_000) / 16_000
    timed = [w for s in filtered.segments for w in s.words]
    gap = [w for w in timed if w.end > clip_end + 0.5 and w.start < jfk_start - 0.5]
    assert not gap, gap  # no word is placed in the silence that was cut
    assert [w.word.strip(" .,").lower() for w in timed if w.start >= jfk_start - 0.5][:3] == [
        "and", "so", "my",
    ]  # fmt: skip
    for s in filtered.segments:
        assert all(s.start <= w.start <= w.end <= s.end for w in s.words)
    silence = transcribe(tiny, np.zeros(160_000, dtype=np.float32), vad_filter=True)
    assert silence.text == "" and silence.windows == 0 and silence.duration == 10.0


def test_words_are_kept_out_of_long_silences_and_text_heard_only_there_is_dropped():
    from whisper_eas.segments import Segment
    from whisper_eas.timing import Word, confine_to_speech

    def segment(*words):
        timed = [Word(w, a, b, 0.9) for w, a, b in words]
        return Segment(timed[0].start, timed[-1].end, "".join(w for w, _, _ in words), [], 0.0,
                       1.0, 0.0, 0.0, 1500, timed)  # fmt: skip

    silences = [(10.0, 20.0)]
    stretched = segment((" listening", 8.0, 9.5), (" to", 9.6, 15.0), (" her.", 15.0, 15.0))
    invented = segment((" her.", 15.0, 15.0))
    late = segment((" So", 19.0, 20.5), (" then", 20.6, 21.0))
    kept = confine_to_speech([stretched, invented, late], silences)
    assert kept == [stretched, late]
    assert [(w.start, w.end) for w in stretched.words] == [(8.0, 9.5), (9.6, 10.0), (10.0, 10.0)]
    assert (stretched.start, stretched.end) == (8.0, 10.0)
    assert (late.words[0].start, late.start) == (20.0, 20.0)
    wordless = [segment((" a", 11.0, 12.0)), segment((" b", 9.0, 12.0))]
    for s in wordless:
        s.words = []
    assert confine_to_speech(wordless, silences) == wordless[1:]  # only one wholly inside


def test_the_vad_check_finds_long_pauses_with_the_audios_edges(tiny):
    """Real speech: a clip, 12 s of silence, jfk, 8 s of silence. The check reads the pauses
    of 2 s or more (the edges too), and a transcript keeps no word inside them, when they are
    decoded (skip_silence=None) and when they are not (the default)."""
    from whisper_eas import transcribe
    from whisper_eas.vad import long_silences, pauses_of

    clip, jfk = load_audio(DATA / "1089-134691-0000.flac"), load_audio(DATA / "jfk.flac")
    zeros = lambda seconds: np.zeros(int(16_000 * seconds), dtype=np.float32)  # noqa: E731
    wave = np.concatenate([clip, zeros(12), jfk, zeros(8)])
    silences = long_silences(pauses_of(wave))
    clip_end, jfk_start = len(clip) / 16_000, len(clip) / 16_000 + 12
    assert len(silences) == 2
    (a, b), (c, d) = silences
    assert abs(a - clip_end) < 1 and abs(b - jfk_start) < 1  # the clips have quiet edges
    assert c < len(wave) / 16_000 - 7.5 and d == round(len(wave) / 16_000 - 0.2, 3)
    result = transcribe(tiny, wave, word_timestamps=True, skip_silence=None)
    skipped = transcribe(tiny, wave, word_timestamps=True)
    for s in result.segments + skipped.segments:
        assert all(not (a < (w.start + w.end) / 2 < b) for w in s.words)
    assert skipped.fallbacks.get("skipped_silence") == 2
    off = transcribe(tiny, wave, word_timestamps=True, vad_check=False)
    # what the check changes it reports: text dropped from a pause, or a window not decoded
    assert off.text == result.text or {"not_speech", "no_speech"} & set(result.fallbacks)


def test_a_burst_of_speech_beside_a_long_pause_is_part_of_the_pause():
    """A music note's attack that Silero hears for a few chunks at a long stretch's edge does
    not end the stretch; a short word heard for longer, or a burst between short pauses, does.
    Chunk probabilities as Silero gave them on a synthetic note after speech (data/gaps'
    kind): 0.51 for one chunk, 0.59-0.65 for three, then 17 s of music below 0.5."""
    from whisper_eas.vad import CHUNK, PAUSE_OPTIONS, speech_regions, without_bursts

    second = 16_000 // CHUNK  # ~31 chunks

    def probs_of(*runs):  # (probability, chunks) in order
        return [p for p, n in runs for _ in range(n)]

    speech, pause = (0.99, 3 * second), (0.1, 1 * second)
    attacks = [(0.51, 1), (0.1, 29), (0.62, 3), (0.1, 17 * second)]
    probs = probs_of(speech, pause, speech, (0.1, 20), *attacks, speech)
    n = len(probs) * CHUNK
    regions = speech_regions(probs, n, PAUSE_OPTIONS)
    assert len(regions) == 5  # the two attacks are regions of their own
    kept = without_bursts(regions, probs, n)
    assert kept == [regions[0], regions[1], regions[4]]  # the chain of attacks joins the pause
    # a word heard for 0.4 s beside the long pause stays, as does a burst between short pauses
    word = probs_of(speech, (0.1, 20), (0.99, 13), (0.1, 17 * second), speech)
    short = probs_of(speech, (0.1, 20), (0.62, 3), (0.1, 20), speech)
    for probs in (word, short):
        regions = speech_regions(probs, len(probs) * CHUNK, PAUSE_OPTIONS)
        assert without_bursts(regions, probs, len(probs) * CHUNK) == regions
    # a file whose only speech is a burst keeps it
    lone = probs_of((0.1, 5 * second), (0.62, 3), (0.1, 5 * second))
    regions = speech_regions(lone, len(lone) * CHUNK, PAUSE_OPTIONS)
    assert len(regions) == 1 and without_bursts(regions, lone, len(lone) * CHUNK) == regions


def test_quiet_speech_is_heard_as_loud_speech_is_and_not_skipped(tiny):
    """The same clip, silence and jfk with the peak at 0.001 (-60 dBFS, as a recording made with
    a very low input gain): Silero alone hears none of jfk's speech there, so the default
    skipped it. Raised for the VAD, the quiet audio has the loud audio's long pauses, and its
    transcript keeps jfk's words."""
    from whisper_eas import transcribe
    from whisper_eas.vad import long_silences, pauses_of

    clip, jfk = load_audio(DATA / "1089-134691-0000.flac"), load_audio(DATA / "jfk.flac")
    wave = np.concatenate([clip, np.zeros(16_000 * 12, dtype=np.float32), jfk])
    quiet = wave * np.float32(0.001 / np.abs(wave).max())
    assert (load_vad()(torch.from_numpy(quiet[-len(jfk) :])) > 0.5).float().mean() < 0.05
    loud, heard = long_silences(pauses_of(wave)), long_silences(pauses_of(quiet))
    assert len(heard) == len(loud) == 1
    assert all(abs(a - b) < 0.3 for a, b in zip(heard[0], loud[0]))
    text = re.sub(r"[^a-z ]", "", transcribe(tiny, quiet).text.lower())
    assert "what your country can do for you" in text, text


def test_speech_after_a_minute_of_digital_silence_is_heard_and_kept(tiny):
    """A minute of exact zeros drifts Silero's state: jfk's "ask not" then peaked at 0.49, the
    pause around it was shortened, and the default wrote "And so my fellow Americans, what your
    country can do for you" (tiny.en and base). Read as faint hiss, the zeros leave the words
    as heard as they are alone, and the transcript keeps them."""
    from whisper_eas import transcribe

    jfk = load_audio(DATA / "jfk.flac")
    wave = np.concatenate([np.zeros(16_000 * 60, dtype=np.float32), jfk])
    ask_not = slice(3 * 16_000 // vad.CHUNK, 5 * 16_000 // vad.CHUNK)  # jfk's 3-5 s
    minute = 60 * 16_000 // vad.CHUNK  # whole chunks
    alone = max(vad.probabilities(jfk)[ask_not])
    after = max(vad.probabilities(wave)[minute + ask_not.start : minute + ask_not.stop])
    assert after > vad.PAUSE_OPTIONS.threshold and abs(after - alone) < 0.05, (after, alone)
    text = re.sub(r"[^a-z ]", "", transcribe(tiny, wave).text.lower())
    assert "americans ask not what your country" in text, text


def test_only_long_runs_of_digital_silence_are_read_as_hiss():
    s = 16_000
    speech = torch.randn(3 * s) * 0.1
    short = torch.cat([speech, torch.zeros(s), speech])  # 1 s of zeros: read as it is
    assert vad.with_hiss(short) is short
    long = torch.cat([speech, torch.zeros(5 * s), speech])  # zeros at 3-8 s
    heard = vad.with_hiss(long)
    assert long[3 * s : 8 * s].eq(0).all()  # a copy: the caller's audio is left as it was
    assert torch.equal(heard, vad.with_hiss(long))  # seeded: the same file, the same hiss
    hissed = torch.zeros(len(long), dtype=torch.bool)
    hissed[-(-3 * s // vad.CHUNK) * vad.CHUNK : 8 * s] = True  # the whole chunks of zeros
    assert torch.equal(heard[~hissed], long[~hissed])
    assert heard[hissed].std() == pytest.approx(vad.DITHER, rel=0.05)
    offset = torch.cat([speech, torch.full((5 * s,), 1e-3), speech])  # a constant level
    assert torch.equal(vad.with_hiss(offset)[hissed], heard[hissed])  # read as the zeros are


def test_without_long_pauses_keeps_a_pad_of_each_beside_the_speech():
    from whisper_eas.vad import without_long_pauses

    s = 16_000
    pauses = [(0, 6 * s), (10 * s, 11 * s), (20 * s, 30 * s), (40 * s, 46 * s)]
    speech = without_long_pauses(pauses, 46 * s, 5.0, pad_s=0.5)
    # a silent start and end keep no pad; a pause inside keeps 0.5 s on each side
    assert speech.regions == [(5.5 * s, 20.5 * s), (29.5 * s, 40.5 * s)]
    assert speech.original(14.0, 16.0) == (19.5, 30.5)  # a span over the cut: 9 s more
    # the pauses where they lie in the joined audio: the two pads of the cut pause are one
    joined = [(0, 0.5 * s), (4.5 * s, 5.5 * s), (14.5 * s, 15.5 * s), (25.5 * s, 26 * s)]
    assert speech.joined_pauses(pauses) == joined
    assert without_long_pauses(pauses, 46 * s, 12.0) is None  # none that long
    assert without_long_pauses([(0, 46 * s)], 46 * s, 5.0).regions == []  # no speech at all


def test_a_shortened_pause_is_no_gap_a_skipped_stretch_is():
    """A recording cut into parts has its pauses of a second or more shortened as well as its
    long stretches skipped: a segment may span a shortened pause, not a skipped stretch."""
    from whisper_eas.vad import without_long_pauses

    s = 16_000
    pauses = [(10 * s, 12 * s), (20 * s, 30 * s)]  # 2 s: shortened; 10 s: a gap
    speech = without_long_pauses(pauses, 40 * s, 1.0, pad_s=0.4, gap_seconds=5.0)
    assert speech.regions == [(0, 10.4 * s), (11.6 * s, 20.4 * s), (29.6 * s, 40 * s)]
    assert speech.gap_joins == [19.2 * s]  # only the 10 s stretch's join
    assert not speech.crosses(9.0, 12.0) and speech.crosses(18.0, 20.0)
    assert speech.original(9.0, 12.0) == (9.0, 13.2)  # mapped back whole, over the pause
    assert [speech.side_of(t * s) for t in (5, 19.2, 19.3)] == [0, 0, 1]
    assert speech.side_span(1) == (19.2, 29.6)


def test_a_segment_over_a_join_is_cut_there_by_its_words(tiny):
    """Two regions 10 s apart in the file, joined: a segment whose words lie on both sides of
    the join becomes one segment per side, each within its region, its tokens a slice of the
    segment's, so that mapped back no segment spans the audio taken out."""
    from whisper_eas.segments import Segment, split_at_joins
    from whisper_eas.timing import Word
    from whisper_eas.vad import SpeechMap

    speech = SpeechMap([(0, 16_000 * 5), (16_000 * 15, 16_000 * 20)])  # joined at 5 s
    decode, tokens = tiny.tokenizer.decode, tiny.tokenizer.encode(" Hello world. Again here.")
    words = [Word(" Hello", 3.0, 3.5, 0.9), Word(" world.", 3.6, 4.8, 0.9),
             Word(" Again", 4.9, 5.8, 0.9), Word(" here.", 5.9, 6.9, 0.9)]  # fmt: skip
    segment = Segment(4.7, 7.0, "Hello world. Again here.", tokens, -0.2, 1.0, 0.0, 0.0, 1500)
    alone = split_at_joins([replace(segment, words=[])], speech, decode)
    assert alone == [replace(segment, words=[])]  # without words: left whole
    first, second = split_at_joins([replace(segment, words=words)], speech, decode)
    assert (first.text, second.text) == ("Hello world.", "Again here.")
    assert first.tokens + second.tokens == tokens and decode(second.tokens) == " Again here."
    assert (first.start, first.end) == (3.0, 4.8) and (second.start, second.end) == (5.0, 6.9)
    assert speech.original(second.start, second.end) == (15.0, 16.9)
    assert not speech.crosses(first.start, first.end) and speech.crosses(3.0, 6.9)


def test_long_stretches_without_speech_are_not_decoded_and_times_stay_the_files(tiny):
    """A clip, 12 s of white noise, jfk, 3 s of silence, the clip: the noise is skipped (the
    text around it decoded joined), the 3 s pause is not (shorter than skip_silence), every
    time is the file's, and the words are those of decoding the noise too."""
    from whisper_eas import transcribe

    clip, jfk = load_audio(DATA / "1089-134691-0000.flac"), load_audio(DATA / "jfk.flac")
    noise = (0.02 * np.random.default_rng(1).standard_normal(16_000 * 12)).astype(np.float32)
    pause = np.zeros(16_000 * 3, dtype=np.float32)
    wave = np.concatenate([clip, noise, jfk, pause, clip])
    skipped = transcribe(tiny, wave, word_timestamps=True)
    plain = transcribe(tiny, wave, word_timestamps=True, skip_silence=None)
    assert skipped.fallbacks.get("skipped_silence") == 1 and skipped.duration == plain.duration
    assert skipped.windows < plain.windows
    words = lambda text: re.sub(r"[^a-z ]", "", text.lower()).split()  # noqa: E731
    assert words(skipped.text) == words(plain.text)
    noise_start, noise_end = len(clip) / 16_000, len(clip) / 16_000 + 12
    timed = [w for s in skipped.segments for w in s.words]
    assert not [w for w in timed if noise_start + 0.5 < (w.start + w.end) / 2 < noise_end - 0.5]
    after = [w.word.strip(" .,").lower() for w in timed if w.start >= noise_end - 0.5]
    assert after[:3] == ["and", "so", "my"]  # jfk, at its place in the file
    times = [t for s in skipped.segments for t in (s.start, s.end)]
    assert times == sorted(times) and times[-1] <= skipped.duration
    for result in skipped, transcribe(tiny, wave):  # no segment spans the noise, words or not
        spans = [(s.start, s.end) for s in result.segments]
        assert not [(a, b) for a, b in spans if a < noise_start + 1 and b > noise_end - 1]
    with pytest.raises(ValueError, match="skip_silence"):
        transcribe(tiny, wave, skip_silence=0.5)


def test_speech_after_a_long_hum_is_heard_from_its_start(tiny):
    """After 15 s of mains hum the VAD's state kept it from hearing jfk's first 5.7 s ("And so
    my fellow Americans, ask not"), and they were never decoded. The pause's end is read
    again from a fresh state, which hears jfk from 0.3 s, as it does jfk alone; by default
    and with vad_filter."""
    from whisper_eas import transcribe

    jfk = load_audio(DATA / "jfk.flac")
    t = np.arange(16_000 * 15) / 16_000
    hum = 0.02 * sum(np.sin(2 * np.pi * 50 * k * t) / k for k in (1, 3, 5, 7))
    hum += 0.002 * np.random.default_rng(0).standard_normal(len(t))
    wave = np.concatenate([hum.astype(np.float32), jfk])
    as_read = vad.pauses_in(vad.probabilities(wave), len(wave))
    assert as_read[0][0] == 0 and as_read[0][1] > 20 * 16_000  # the state's miss
    first = vad.pauses_of(wave)[0]
    assert first[0] == 0 and 15.2 * 16_000 < first[1] < 15.6 * 16_000
    assert transcribe(tiny, wave).text.startswith("And so my fellow Americans")
    # vad_filter's regions too (its 0.4 s pad before the onset); faster-whisper's lose it.
    as_read = vad.speech_regions(vad.probabilities(wave), len(wave), vad.FILTER_OPTIONS)
    assert as_read[0][0] > 16 * 16_000  # "And so my fellow" lost
    (start, _), *_ = vad.speech_map(wave).regions
    assert 14.8 * 16_000 < start < 15.2 * 16_000
    kept = transcribe(tiny, wave, vad_filter=True)
    assert kept.text.startswith("And so my fellow Americans") and kept.segments[0].start > 14.5


def test_a_short_clip_without_speech_keeps_no_text(tiny):
    """A clip of one window is checked too: 20 s of music-like tones (no speech; Silero hears
    none) had decoded as "." (tiny.en) and "Thank you." (base) after a hotter retry. It keeps
    no text now and says why; a short clip of speech keeps its words."""
    from whisper_eas import transcribe

    t = np.arange(16_000 * 20) / 16_000
    tones = 0.1 * np.sin(2 * np.pi * 440 * t) * np.sin(2 * np.pi * 0.5 * t)
    tones = (tones + 0.05 * np.sin(2 * np.pi * 660 * t)).astype(np.float32)
    result = transcribe(tiny, tones)
    assert result.text == "" and result.segments == [] and result.fallbacks.get("no_speech")
    assert result.duration == 20.0
    speech = transcribe(tiny, DATA / "jfk.flac")
    assert speech.text.startswith("And so my fellow Americans") and not speech.fallbacks


def test_heard_seconds_reads_only_the_pauses_it_overlaps(audio):
    """The speech heard in a span, summed from the pauses around it alone (an hour's segments
    each read every pause before), equals the sum over every pause."""
    from whisper_eas.segments import heard_seconds
    from whisper_eas.vad import pauses_of

    pauses = pauses_of(audio)
    assert len(pauses) >= 4
    rng = np.random.default_rng(0)
    for start in rng.integers(0, len(audio), 200):
        end = int(start + rng.integers(0, 480_000))
        quiet = sum(max(0, min(b, end) - max(a, int(start))) for a, b in pauses)
        assert heard_seconds(pauses, int(start), end) == (end - start - quiet) / 16_000


def test_vad_parameters_in_faster_whispers_names(tiny, capsys):
    """`vad_parameters` (CLI: --vad-*) change vad_filter's settings, in faster-whisper's names;
    unknown names and bad values are refused by name."""
    from whisper_eas import transcribe
    from whisper_eas.cli import build_parser, main, vad_parameters

    given = {"min_silence_duration_ms": 500, "min_speech_duration_ms": 2500, "threshold": 0.5}
    options = vad.filter_options(given)
    assert options == replace(vad.FILTER_OPTIONS, min_silence_ms=500, min_speech_ms=2500)
    assert vad.filter_options(None) == vad.FILTER_OPTIONS
    for bad, message in (
        ({"min_silence": 1}, "unknown VAD parameter 'min_silence'"),
        ({"threshold": 1.5}, "threshold must lie in"),
        ({"speech_pad_ms": -1}, "must not be negative"),
    ):
        with pytest.raises(ValueError, match=message):
            vad.filter_options(bad)
    # A clip, 1 s of silence, jfk: with pauses of 500 ms ending regions, every region but jfk's
    # last phrase is under 2.5 s and dropped; what is left keeps its time in the file.
    clip, jfk = load_audio(DATA / "1089-134691-0000.flac"), load_audio(DATA / "jfk.flac")
    wave = np.concatenate([clip, np.zeros(16_000, dtype=np.float32), jfk])
    (start, _), *rest = vad.speech_map(wave, options).regions
    assert not rest and start > len(clip) + 16_000
    kept = transcribe(tiny, wave, vad_filter=True, vad_parameters=given)
    assert (
        re.sub(r"[^a-z ]", "", kept.text.lower()).split()
        == "ask what you can do for your country".split()
    )
    assert kept.segments[0].start >= start / 16_000 - 0.01
    with pytest.raises(ValueError, match="pass vad_filter=True too"):  # not silently ignored
        transcribe(tiny, wave, vad_parameters=given)
    args = build_parser().parse_args(
        ["transcribe", "x.wav", "--vad", "--vad-min-silence-duration-ms", "500"]
    )
    assert vad_parameters(args) == {"min_silence_duration_ms": 500}
    assert main(["transcribe", "x.wav", "--vad-threshold", "0.6"]) == 2
    assert "the --vad-* settings apply with --vad" in capsys.readouterr().err
