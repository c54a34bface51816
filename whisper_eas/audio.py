"""Whisper's frontend: decode any audio file to 16 kHz mono, cut it into 30 s windows,
and turn each window into the log-mel spectrogram the encoder reads.

Padding convention: the *waveform* is padded with zeros before the STFT, so the last frames of
a short clip see real zeros. Transcription computes the mel of the whole file followed by
30 s of zeros once and cuts each window's 3000 frames out of it (`windows.file_mel`), as
openai-whisper and faster-whisper do; for a clip under 30 s that window equals Hugging Face
`WhisperFeatureExtractor`'s features (the waveform padded to 30 s). The last window of a longer
file is padded as openai-whisper pads it: zeros in the log-mel after the audio's frames
(`transcribe._File.window`).
"""

import io
import struct
import warnings
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

SAMPLE_RATE = 16_000
N_FFT = 400  # 25 ms window
HOP_LENGTH = 160  # 10 ms hop
CHUNK_SECONDS = 30
N_SAMPLES = CHUNK_SECONDS * SAMPLE_RATE  # 480,000 samples in one window
N_FRAMES = N_SAMPLES // HOP_LENGTH  # 3,000 mel frames in one window
# A long file's STFT is made 30 s at a time: its temporaries (~5 MB of complex frames) come
# from the heap again and again, where chunks of 5 minutes (~40 MB) were mapped afresh by the
# allocator each time and faulted in page by page: the same bits, a 227 s file's mel 0.04-0.06
# s against 0.09-0.12 (0-15,000 page faults against 30,000-54,000), 19.5 minutes 0.18-0.22 s
# against 0.36-0.46 (AMD EPYC Zen 4, 2 threads, 2026-12-07).
MEL_CHUNK_FRAMES = N_FRAMES
RESAMPLE_SAMPLES = 50_000  # decoded samples FFmpeg's resampler takes at a time (`resampled`)


# WAV sample formats read without FFmpeg: (format tag, bits) -> their NumPy type.
PLAIN_WAV = {(1, 16): np.dtype("<i2"), (3, 32): np.dtype("<f4")}  # PCM 16-bit, IEEE float


def wav_layout(path: Path) -> tuple[int, int, int, int, int, int] | None:
    """A RIFF WAV file's (format tag, channels, rate, bits, data offset, data bytes), from its
    header alone; None for anything else, or a header this reader does not trust (a data size
    past the file's end, as streamed WAVs write)."""
    with open(path, "rb") as file:
        head = file.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        layout = None
        while len(chunk := file.read(8)) == 8:
            name, size = chunk[:4], int.from_bytes(chunk[4:], "little")
            if name == b"fmt ":
                body = file.read(size + size % 2)  # chunks are padded to even sizes
                if len(body) < 16:
                    return None
                tag, channels, rate = struct.unpack_from("<HHI", body)
                bits = struct.unpack_from("<H", body, 14)[0]
                if tag == 0xFFFE:  # WAVE_FORMAT_EXTENSIBLE: its sub-format's tag
                    tag = struct.unpack_from("<H", body, 24)[0] if len(body) >= 26 else None
                layout = (tag, channels, rate, bits)
            elif name == b"data":
                offset = file.tell()
                if layout is None or offset + size > path.stat().st_size:
                    return None
                return (*layout, offset, size)
            else:
                file.seek(size + size % 2, 1)
    return None


def read_plain_wav(path: Path, sample_rate: int) -> np.ndarray | None:
    """A mono WAV at `sample_rate` of 16-bit integers or 32-bit floats, read straight into
    float32: the samples `load_audio` gets from FFmpeg (tested), 16-bit integers over 32,768,
    floats rounded to 16 bits first as FFmpeg's conversion rounds them; None for any other
    file. A 4-minute WAV's process was spared 0.2 s: FFmpeg's import and decoder."""
    try:
        layout = wav_layout(path)
    except OSError:
        return None  # PyAV names the problem
    if layout is None:
        return None
    tag, channels, rate, bits, offset, size = layout
    dtype = PLAIN_WAV.get((tag, bits))
    if dtype is None or channels != 1 or rate != sample_rate or size < dtype.itemsize:
        return None  # PyAV converts it (or names what is wrong with it)
    samples = np.fromfile(path, dtype=dtype, count=size // dtype.itemsize, offset=offset)
    if dtype.kind == "f":  # to 16-bit integers first, as FFmpeg's conversion rounds them
        samples = np.clip(np.rint(samples * np.float32(32768)), -32768, 32767)
    samples = samples.astype(np.float32, copy=False)
    samples /= np.float32(32768)  # in place: a long file's samples are not held twice
    return samples


def audio_name(source: "str | Path | BinaryIO") -> str:
    """What messages call an audio file: its path, an open file's name, or "<stream>"."""
    return getattr(source, "name", "<stream>") if hasattr(source, "read") else str(source)


def load_audio(path: "str | Path | BinaryIO", sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode an audio file (wav, flac, mp3, ogg, m4a, ...) to mono float32 at `sample_rate`;
    `path` may also be an open binary file (anything with `read`: `open(..., "rb")`, `BytesIO`),
    as faster-whisper's `decode_audio` takes.

    PyAV bundles FFmpeg, so every container FFmpeg reads works without a system install;
    its resampler does the down-mix and the rate conversion in one pass, to 16-bit samples, as
    openai-whisper and faster-whisper ask FFmpeg for them: the samples faster-whisper's
    `decode_audio` reads, to the bit (tested; FFmpeg mixes stereo down at half of each channel
    for integers, at 0.707 for floats). A WAV that needs neither (`read_plain_wav`) is read
    without it. Packets FFmpeg cannot decode are skipped with a warning (`Decoded`); a file of
    which none decodes is an error.
    """
    if hasattr(path, "read"):  # an open file: FFmpeg reads it
        source, name = path, audio_name(path)
        if isinstance(source, io.TextIOBase):
            raise TypeError(f"{name} is open as text; open an audio file in binary mode ('rb')")
    else:
        path = Path(path)
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a directory, not an audio file")
        if not path.is_file():
            raise FileNotFoundError(f"audio file not found: {path}")
        if path.stat().st_size == 0:  # FFmpeg would only say "Invalid data found"
            raise ValueError(f"audio file {path} is empty (0 bytes)")
        plain = read_plain_wav(path, sample_rate)
        if plain is not None:
            return plain
        source = name = str(path)

    import av  # imported here: decoding is the only place that needs FFmpeg

    try:
        with av.open(source, metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise ValueError(f"{name} has no audio stream")
            decoded = Decoded(container.demux(container.streams.audio[0]))
            # Into one array sized from the header's duration (grown if it is short): pieces
            # kept and then joined held an hour's audio twice, and took a quarter longer.
            seconds = (container.duration or 0) / av.time_base
            audio, n_samples = np.empty(round((seconds + 1) * sample_rate), np.float32), 0
            for out in resampled(decoded, sample_rate):
                samples = out.to_ndarray().reshape(-1)  # 16-bit integers, made floats here
                if n_samples + len(samples) > len(audio):
                    room = np.empty(max(len(audio), len(samples)), np.float32)
                    audio = np.concatenate([audio[:n_samples], room])
                audio[n_samples : n_samples + len(samples)] = samples
                n_samples += len(samples)
    except av.FFmpegError as error:
        raise ValueError(f"cannot decode audio file {name}: {error}") from error
    if n_samples == 0:
        if decoded.skipped:
            raise ValueError(f"cannot decode audio file {name}: no packet of it decodes")
        raise ValueError(f"audio file {name} contains no samples")
    if decoded.skipped:
        warnings.warn(
            f"{name}: skipped {decoded.skipped} packet(s) FFmpeg could not decode", stacklevel=2
        )
    audio = audio[:n_samples]
    audio /= np.float32(32768)  # in place: a long file's samples are not held twice
    return audio


class Decoded:
    """The frames of an audio stream's packets, skipping those FFmpeg cannot decode (a damaged
    stretch, or files joined end to end), as the ffmpeg command line does; `skipped` counts
    them, for `load_audio` to report."""

    def __init__(self, packets):
        self.packets, self.skipped = packets, 0

    def __iter__(self):
        import av

        for packet in self.packets:
            try:
                yield from packet.decode()
            except av.InvalidDataError:
                self.skipped += 1


def resampled(frames, sample_rate: int):
    """Decoded frames as mono 16-bit frames at `sample_rate`, by FFmpeg's resampler, fed
    `RESAMPLE_SAMPLES` at a time: a call per decoded frame (~1,000 samples) cost more than the
    decoding. Compressed long recordings read 1.4-2.3x faster so (FLAC, MP3, AAC, Opus;
    benchmarks/results/audio_decoding_avx2_cpu.md), the same samples (tested). A change of
    format, layout or rate mid-stream starts a new resampler."""
    import av

    fifo = resampler = kind = None
    for frame in frames:
        if (frame.format.name, frame.layout.name, frame.sample_rate) != kind:
            if resampler is not None:
                yield from drained(fifo, resampler)
            kind = (frame.format.name, frame.layout.name, frame.sample_rate)
            fifo = av.AudioFifo()
            resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
        frame.pts = None  # the FIFO checks that timestamps run on, which a skipped packet breaks
        fifo.write(frame)
        if fifo.samples >= RESAMPLE_SAMPLES:
            yield from resampler.resample(fifo.read())
    if resampler is not None:
        yield from drained(fifo, resampler)


def drained(fifo, resampler):
    """What `fifo` and `resampler` still hold, resampled."""
    if fifo.samples:
        yield from resampler.resample(fifo.read())
    yield from resampler.resample(None)


def audio_seconds(path: str | Path) -> float | None:
    """A file's duration from its container's header, without decoding it (None if unknown)."""
    try:
        layout = wav_layout(Path(path))
    except OSError:
        return None
    if layout is not None and layout[1] and layout[2] and layout[3] >= 8:
        _, channels, rate, bits, _, size = layout
        return size / (channels * (bits // 8) * rate)
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            return None if container.duration is None else container.duration / av.time_base
    except (av.FFmpegError, OSError):
        return None


def pad_or_trim(audio: torch.Tensor | np.ndarray, length: int = N_SAMPLES) -> torch.Tensor:
    """Zero-pad or cut the last axis to `length` samples (one 30 s window by default)."""
    audio = torch.as_tensor(audio)
    if audio.shape[-1] > length:
        return audio[..., :length]
    return torch.nn.functional.pad(audio, (0, length - audio.shape[-1]))


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    # Slaney's scale: linear below 1 kHz (3 mels per 200 Hz), logarithmic above.
    hz = np.asarray(hz, dtype=np.float64)
    mel = 3.0 * hz / 200.0
    log_region = hz >= 1000.0
    return np.where(
        log_region, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0), mel
    )


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    hz = 200.0 * mel / 3.0
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), hz)


@lru_cache(maxsize=None)
def mel_filters(n_mels: int) -> np.ndarray:
    """Triangular Slaney-normalised mel filterbank, (n_mels, N_FFT // 2 + 1), 0 Hz to 8 kHz.

    Computed rather than downloaded; equal to librosa.filters.mel(sr=16000, n_fft=400).
    """
    fft_hz = np.linspace(0.0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    edges_hz = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(SAMPLE_RATE / 2), n_mels + 2))
    widths = np.diff(edges_hz)  # (n_mels + 1,)
    ramps = edges_hz[:, None] - fft_hz[None, :]  # (n_mels + 2, n_freqs)
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]  # equal area per filter
    return weights.astype(np.float32)


def log_mel_spectrogram(
    audio: torch.Tensor | np.ndarray, n_mels: int = 80, padding: int = 0
) -> torch.Tensor:
    """Whisper's log-mel features: (..., samples) -> (..., n_mels, (samples + padding) // 160);
    a 30 s window (N_SAMPLES) gives 3000 frames. `padding`: zeros after the audio (a file's
    mel is followed by 30 s of silence, `windows.file_mel`), added without a copy of it.

    The dynamic range is clamped to 8 (log10 units) below the input's own maximum and
    scaled to roughly [-1, 1], as the model was trained.
    """
    if n_mels not in (80, 128):
        raise ValueError(f"n_mels must be 80 or 128, got {n_mels}")
    audio = torch.as_tensor(audio, dtype=torch.float32)
    flat = audio.reshape(-1, audio.shape[-1])
    n_samples, half = flat.shape[-1] + padding, N_FFT // 2
    if n_samples <= half:
        raise ValueError(f"audio of {n_samples} samples is too short for the log-mel's STFT")
    # The audio and its padding reflected by N_FFT // 2 samples at both ends, as
    # torch.stft(center=True) reflects them, in one buffer; then the frames are made
    # MEL_CHUNK_FRAMES at a time, each from the same samples, so that an hour's STFT (~600 MB
    # complex, and as much again in magnitudes) never exists whole. Frame i is centred on
    # sample i * 160; the one centred past the end is left out (3001 -> 3000).
    padded = flat.new_zeros(flat.shape[0], n_samples + 2 * half)
    padded[:, half : half + flat.shape[-1]] = flat
    padded[:, :half] = padded[:, half + 1 : 2 * half + 1].flip(-1)
    padded[:, -half:] = padded[:, -2 * half - 1 : -half - 1].flip(-1)
    window = torch.hann_window(N_FFT, device=audio.device)
    filters = torch.from_numpy(mel_filters(n_mels)).to(audio.device)
    n_frames = n_samples // HOP_LENGTH
    log_spec = torch.empty(flat.shape[0], n_mels, n_frames, device=audio.device)
    for start in range(0, n_frames, MEL_CHUNK_FRAMES):
        end = min(start + MEL_CHUNK_FRAMES, n_frames)
        samples = padded[:, start * HOP_LENGTH : (end - 1) * HOP_LENGTH + N_FFT]
        stft = torch.stft(samples, N_FFT, HOP_LENGTH, window=window, center=False,
                          return_complex=True)  # fmt: skip
        log_spec[:, :, start:end] = torch.clamp(filters @ stft.abs() ** 2, min=1e-10).log10()
    floor = log_spec.amax(dim=(-2, -1), keepdim=True) - 8.0
    torch.maximum(log_spec, floor, out=log_spec)  # in place: an hour's mel is 120 MB a copy
    return log_spec.add_(4.0).div_(4.0).reshape(*audio.shape[:-1], n_mels, n_frames)
