"""One call from audio to text: decode files, cut them into 30 s windows, batch the windows
through the encoder (optionally with EAS) and the greedy decoder, join each file's text.

Long audio: sequential, non-overlapping 30 s windows; each is transcribed on its own and the
texts are joined with a space. A word cut by a window boundary may be lost or split, but no
audio is dropped. (openai-whisper's timestamp-driven seeking is not implemented.)
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .audio import N_SAMPLES, load_audio, log_mel_spectrogram, pad_or_trim
from .decoding import DecodingOptions, greedy_decode
from .model import Whisper
from .sparsify import EASConfig

AudioInput = str | Path | np.ndarray | torch.Tensor


@dataclass
class Transcription:
    text: str
    tokens: list[int]  # text tokens of all windows, in order
    language: str | None
    windows: int  # number of 30 s windows
    kept_tokens: list[int] = field(default_factory=list)  # audio tokens kept per window (1500 without EAS)
    hit_max_length: int = 0  # windows that stopped at the length limit


def _waveform(audio: AudioInput) -> np.ndarray:
    if isinstance(audio, (str, Path)):
        return load_audio(audio)
    waveform = audio.detach().cpu().numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio)
    if waveform.ndim != 1:
        raise ValueError(f"expected a mono 16 kHz waveform (1-D), got shape {waveform.shape}")
    if waveform.size == 0:
        raise ValueError("empty audio: the waveform has no samples")
    return waveform.astype(np.float32, copy=False)


def windows_of(waveform: np.ndarray) -> list[np.ndarray]:
    """Sequential 30 s windows covering every sample."""
    return [waveform[start : start + N_SAMPLES] for start in range(0, len(waveform), N_SAMPLES)]


@torch.inference_mode()
def transcribe_windows(
    model: Whisper, windows: list[np.ndarray], *, eas: EASConfig | None, options: DecodingOptions, attention="sdpa", timer=None
):
    """Encoder + greedy decoding for one batch of windows -> (results, kept count per window).

    `timer` (optional, e.g. `evaluate.StageTimer`) gets `start()` and then `lap(stage)` after
    the mel frontend, the conv stem, the encoder and the decoder (the paper's Fig. 4 split)."""
    lap = timer.lap if timer is not None else lambda stage: None
    if timer is not None:
        timer.start()
    device, dtype = model.decoder.token_embedding.weight.device, model.decoder.token_embedding.weight.dtype
    samples = torch.stack([pad_or_trim(torch.from_numpy(w)) for w in windows]).to(device)
    mel = log_mel_spectrogram(samples, model.dims.n_mels).to(dtype)
    lap("mel")
    x = model.encoder.stem(mel)
    lap("stem")
    encoded = model.encoder.transform(x, eas=eas, attention=attention)
    lap("encoder")
    results = greedy_decode(model, encoded.features, options)
    lap("decoder")
    return results, encoded.features.shape[1]


def transcribe(
    model: Whisper,
    audio: AudioInput | list[AudioInput],
    *,
    eas: EASConfig | None = None,
    language: str | None = None,
    task: str = "transcribe",
    max_new_tokens: int | None = None,
    attention: str = "sdpa",
    batch_size: int = 8,
) -> Transcription | list[Transcription]:
    """Transcribe a file, a waveform (mono float32 at 16 kHz), or a list of them (batched).

    `eas` enables Early Attentive Sparsification; `attention` is the encoder's backend, one
    string or one per block (the EAS scoring block computes its probabilities eagerly when its scorer needs them).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    options = DecodingOptions(task=task, language=language, max_new_tokens=max_new_tokens, attention="sdpa")
    inputs = audio if isinstance(audio, list) else [audio]
    windows = [(index, w) for index, item in enumerate(inputs) for w in windows_of(_waveform(item))]
    per_input: list[list] = [[] for _ in inputs]
    for start in range(0, len(windows), batch_size):
        chunk = windows[start : start + batch_size]
        results, kept = transcribe_windows(model, [w for _, w in chunk], eas=eas, options=options, attention=attention)
        for (index, _), result in zip(chunk, results):
            per_input[index].append((result, kept))
    transcriptions = [
        Transcription(
            text=" ".join(r.text for r, _ in parts if r.text),
            tokens=[t for r, _ in parts for t in r.tokens],
            language=parts[0][0].language,
            windows=len(parts),
            kept_tokens=[k for _, k in parts],
            hit_max_length=sum(r.hit_max_length for r, _ in parts),
        )
        for parts in per_input
    ]
    return transcriptions if isinstance(audio, list) else transcriptions[0]
