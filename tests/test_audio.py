import warnings

import numpy as np
import pytest
import soundfile
import torch
from conftest import DATA, FIXTURES
from transformers import WhisperFeatureExtractor

from whisper_eas import audio as audio_module
from whisper_eas.audio import (
    N_FRAMES,
    N_SAMPLES,
    SAMPLE_RATE,
    audio_seconds,
    load_audio,
    log_mel_spectrogram,
    mel_filters,
    pad_or_trim,
)


@pytest.mark.parametrize("n_mels", [80, 128])
@pytest.mark.parametrize("clip", [FIXTURES[0], DATA / "jfk.flac"], ids=lambda p: p.name)
def test_log_mel_matches_transformers(clip, n_mels):
    # Our convention = HF's: pad the waveform to 30 s, then STFT.
    audio = load_audio(clip)
    extractor = WhisperFeatureExtractor(feature_size=n_mels)
    reference = extractor(audio, sampling_rate=SAMPLE_RATE, return_tensors="np").input_features[0]
    ours = log_mel_spectrogram(pad_or_trim(torch.from_numpy(audio)), n_mels).numpy()
    assert ours.shape == (n_mels, N_FRAMES)
    assert np.abs(ours - reference).max() <= 1e-4
    # Against HF's float64 numpy path too, an implementation independent of torch.stft.
    reference64 = extractor._np_extract_fbank_features(
        pad_or_trim(torch.from_numpy(audio)).numpy()[None], "cpu"
    )[0]
    assert np.abs(ours - reference64).max() <= 1e-4


def test_a_long_files_mel_made_in_chunks_matches_transformers(monkeypatch):
    """A file's mel (its waveform followed by 30 s of zeros, `padding`) is made a chunk of
    frames at a time, so that an hour's STFT never exists whole: the same bits as one pass,
    and HF's float64 features of the file padded by hand."""
    from whisper_eas import audio as audio_module

    audio = np.concatenate([load_audio(clip) for clip in FIXTURES[:3]])
    whole = log_mel_spectrogram(audio, padding=N_SAMPLES)
    monkeypatch.setattr(audio_module, "MEL_CHUNK_FRAMES", 700)  # several, the last partial
    chunked = log_mel_spectrogram(audio, padding=N_SAMPLES)
    assert chunked.shape == (80, (len(audio) + N_SAMPLES) // 160)
    assert (chunked.shape[-1] // 700) >= 3 and chunked.shape[-1] % 700
    assert torch.equal(chunked, whole)
    padded = np.concatenate([audio, np.zeros(N_SAMPLES, np.float32)])
    extractor = WhisperFeatureExtractor(feature_size=80)
    reference = extractor._np_extract_fbank_features(padded[None], "cpu")[0]
    assert np.abs(chunked.numpy() - reference).max() <= 1e-4
    with pytest.raises(ValueError, match="too short"):
        log_mel_spectrogram(np.zeros(150, np.float32))


@pytest.mark.parametrize("n_mels", [80, 128])
def test_mel_filters_match_slaney_filterbank(n_mels):
    extractor = WhisperFeatureExtractor(feature_size=n_mels)
    assert np.abs(mel_filters(n_mels) - extractor.mel_filters.T).max() < 1e-7


def test_load_audio_resamples_and_downmixes():
    import av

    with av.open(str(DATA / "jfk.flac")) as container:
        stream = container.streams.audio[0]
        assert (stream.rate, stream.channels) == (44100, 2)
    audio = load_audio(DATA / "jfk.flac")
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(len(audio) / SAMPLE_RATE - 11.0) < 0.01
    assert 0.05 < np.abs(audio).max() <= 1.5


def test_audio_longer_than_its_header_says_is_read_whole(monkeypatch):
    """The decoder fills one array sized from the header's duration and grows it when the
    audio runs longer (a header without a duration, or a wrong one)."""
    import av

    expected = load_audio(DATA / "jfk.flac")
    monkeypatch.setattr(av, "time_base", av.time_base * 1000)  # the header: 11 ms, not 11 s
    np.testing.assert_array_equal(load_audio(DATA / "jfk.flac"), expected)


def test_lossless_16k_flac_is_read_exactly():
    import soundfile

    reference, rate = soundfile.read(DATA / "1272-128104-0000.flac", dtype="float32")
    assert rate == SAMPLE_RATE
    np.testing.assert_array_equal(load_audio(DATA / "1272-128104-0000.flac"), reference)


def decoded_by_pyav(path, monkeypatch) -> np.ndarray:
    """`load_audio` with its WAV reader switched off: FFmpeg's samples."""
    with monkeypatch.context() as patch:
        patch.setattr(audio_module, "read_plain_wav", lambda path, rate: None)
        return load_audio(path)


@pytest.mark.parametrize("container", ["WAV", "WAVEX"])
@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_plain_wav_is_read_without_ffmpeg_to_its_samples(tmp_path, monkeypatch, container, subtype):
    """A 16 kHz mono WAV of 16-bit integers or floats skips PyAV and gets FFmpeg's samples to
    the bit, loud ones included; its duration comes from its header."""
    speech = load_audio(DATA / "1272-128104-0000.flac")
    loud = np.random.default_rng(0).uniform(-3, 3, SAMPLE_RATE).astype(np.float32)
    for name, samples in (("speech", speech), ("loud", loud)):
        path = tmp_path / f"{name}.wav"
        soundfile.write(path, samples, SAMPLE_RATE, subtype=subtype, format=container)
        assert audio_module.read_plain_wav(path, SAMPLE_RATE) is not None
        np.testing.assert_array_equal(load_audio(path), decoded_by_pyav(path, monkeypatch))
        assert audio_seconds(path) == pytest.approx(len(samples) / SAMPLE_RATE)


def test_other_wavs_go_to_ffmpeg(tmp_path):
    """Stereo, another rate, 24-bit samples or a data chunk said to run past the file's end:
    not read by `read_plain_wav`, decoded by PyAV."""
    speech = load_audio(DATA / "1272-128104-0000.flac")
    cases = {
        "stereo": (np.stack([speech, speech], axis=1), SAMPLE_RATE, "PCM_16"),
        "rate": (speech, 22050, "PCM_16"),
        "bits": (speech, SAMPLE_RATE, "PCM_24"),
    }
    for name, (samples, rate, subtype) in cases.items():
        path = tmp_path / f"{name}.wav"
        soundfile.write(path, samples, rate, subtype=subtype)
        assert audio_module.read_plain_wav(path, SAMPLE_RATE) is None, name
        expected = len(speech) * SAMPLE_RATE / rate
        assert abs(len(load_audio(path)) - expected) < 0.01 * SAMPLE_RATE, name
    whole, truncated = tmp_path / "whole.wav", tmp_path / "truncated.wav"
    soundfile.write(whole, speech, SAMPLE_RATE, subtype="PCM_16")
    data = whole.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])  # its header still counts all the samples
    assert audio_module.read_plain_wav(truncated, SAMPLE_RATE) is None
    assert 0 < len(load_audio(truncated)) < len(speech)


def test_mp3_decodes_close_to_its_lossless_twin():
    mp3, flac = (
        load_audio(DATA / "1272-128104-0000.mp3"),
        load_audio(DATA / "1272-128104-0000.flac"),
    )
    assert abs(len(mp3) - len(flac)) < 0.05 * SAMPLE_RATE
    # The same samples, not only the same length: a 24 kbps re-encode correlates 0.958 with
    # its source at lag 0 (measured); a wrong rate, channel mix or offset falls far below.
    n = min(len(mp3), len(flac))
    correlation = np.corrcoef(mp3[:n], flac[:n])[0, 1]
    assert correlation > 0.93, correlation


def resampled_frame_by_frame(path) -> np.ndarray:
    """FFmpeg's resampler fed one decoded frame at a time (as `load_audio` was until
    2026-12-06): the samples that feeding it in chunks must not change."""
    import av

    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        frames = [out for frame in container.decode(audio=0) for out in resampler.resample(frame)]
        frames += resampler.resample(None)
    return np.concatenate([frame.to_ndarray().reshape(-1) for frame in frames]) / np.float32(32768)


@pytest.mark.parametrize("name", ["jfk.flac", "1272-128104-0000.mp3"])
def test_resampling_in_chunks_gives_the_samples_of_frame_by_frame(name, monkeypatch):
    monkeypatch.setattr(audio_module, "RESAMPLE_SAMPLES", 30_000)  # several chunks a file
    np.testing.assert_array_equal(load_audio(DATA / name), resampled_frame_by_frame(DATA / name))


def test_samples_are_faster_whispers_to_the_bit(tmp_path):
    """Stereo at 44.1 kHz, an MP3, another rate and float WAVs (loud ones too): the samples
    faster-whisper's `decode_audio` reads (16-bit, as openai-whisper's FFmpeg call gives)."""
    from faster_whisper.audio import decode_audio

    speech = load_audio(DATA / "1272-128104-0000.flac")
    loud = np.random.default_rng(0).uniform(-3, 3, SAMPLE_RATE).astype(np.float32)
    written = {"speech.wav": (speech, SAMPLE_RATE, "FLOAT"), "loud.wav": (loud, SAMPLE_RATE,
               "FLOAT"), "rate.wav": (speech, 22050, "PCM_16")}  # fmt: skip
    for name, (samples, rate, subtype) in written.items():
        soundfile.write(tmp_path / name, samples, rate, subtype=subtype)
    paths = [DATA / "jfk.flac", DATA / "1272-128104-0000.mp3", *map(tmp_path.joinpath, written)]
    for path in paths:
        np.testing.assert_array_equal(load_audio(path), decode_audio(str(path)), err_msg=path.name)


def test_a_damaged_stretch_is_skipped_with_a_warning(tmp_path):
    """A packet FFmpeg cannot decode is skipped, as the ffmpeg command line skips it, and
    said: the rest of the file is read, not refused."""
    whole = DATA / "1272-128104-0000.mp3"
    data = bytearray(whole.read_bytes())
    data[5000:5300] = bytes(range(256)) + bytes(44)
    damaged = tmp_path / "damaged.mp3"
    damaged.write_bytes(data)
    with pytest.warns(UserWarning, match="damaged.mp3: skipped 1 packet"):
        audio = load_audio(damaged)
    assert 0 <= len(load_audio(whole)) - len(audio) < 0.2 * SAMPLE_RATE


def test_files_joined_end_to_end_are_read_whole(tmp_path):
    """Two MP3s of other rates and channels, one after the other in one file: the resampler
    starts again where the format changes (a single one refuses the second's frames)."""
    import av

    stereo = tmp_path / "stereo.mp3"  # jfk.flac, 44.1 kHz stereo, as an MP3
    with av.open(str(DATA / "jfk.flac")) as source, av.open(str(stereo), "w") as target:
        stream = target.add_stream("libmp3lame", rate=44100, layout="stereo")
        resampler = av.AudioResampler(format="s16p", layout="stereo", rate=44100)
        for frame in [*source.decode(audio=0), None]:
            for converted in resampler.resample(frame):
                target.mux(stream.encode(converted))
        target.mux(stream.encode(None))
    mono = DATA / "1272-128104-0000.mp3"  # 16 kHz mono
    joined = tmp_path / "joined.mp3"
    joined.write_bytes(mono.read_bytes() + stereo.read_bytes())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the join may leave a packet undecodable
        audio = load_audio(joined)
    expected = len(load_audio(mono)) + len(load_audio(stereo))
    assert abs(len(audio) - expected) < 0.2 * SAMPLE_RATE


def test_pad_or_trim():
    assert pad_or_trim(torch.ones(10)).shape == (N_SAMPLES,)
    assert pad_or_trim(torch.ones(2, N_SAMPLES + 5)).shape == (2, N_SAMPLES)
    assert pad_or_trim(torch.ones(10))[10:].abs().sum() == 0


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_audio(tmp_path / "nope.wav")


def test_corrupt_file(tmp_path):
    bad = tmp_path / "bad.flac"
    bad.write_bytes(b"fLaC" + bytes(range(256)) * 10)
    with pytest.raises(ValueError, match="cannot decode"):
        load_audio(bad)


def test_a_wav_header_cut_short_is_an_error_naming_the_file(tmp_path):
    bad = tmp_path / "short.wav"
    bad.write_bytes(b"RIFF" + (28).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little"))
    with pytest.raises(ValueError, match="short.wav"):
        load_audio(bad)


def test_a_file_open_as_text_is_refused_by_name(tmp_path):
    with open(DATA / "jfk.flac", encoding="latin-1") as text, pytest.raises(TypeError, match="rb"):
        load_audio(text)


def test_text_file_is_not_audio(tmp_path):
    text = tmp_path / "notes.mp3"
    text.write_text("this is not audio\n" * 100)
    with pytest.raises(ValueError, match="cannot decode|no audio"):
        load_audio(text)


def test_empty_audio(tmp_path):
    import soundfile

    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(ValueError, match="no samples"):
        load_audio(empty)


def test_bad_n_mels():
    with pytest.raises(ValueError, match="n_mels"):
        log_mel_spectrogram(torch.zeros(N_SAMPLES), 64)
