"""Voice activity detection against the silero-vad package itself: our batched module's chunk
probabilities against its TorchScript model run chunk by chunk, and our speech regions against
its `get_speech_timestamps_from_probs`, on real speech with silence and noise between."""

import numpy as np
import pytest
import torch
from conftest import DATA

from whisper_eas import load_audio
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
def their_probs(package, audio):
    model = package.load_silero_vad()
    model.reset_states()
    chunks = audio.split(512)
    padded = [torch.nn.functional.pad(c, (0, 512 - len(c))) for c in chunks]
    with torch.inference_mode():
        return torch.tensor([model(c, 16_000).item() for c in padded])


def test_probabilities_equal_the_packages_model(audio, their_probs):
    ours = load_vad()(audio)
    assert ours.shape == their_probs.shape
    assert (ours - their_probs).abs().max() < 1e-5  # measured 3.4e-6
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
