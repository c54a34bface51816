"""whisper-eas: a small, readable pure-PyTorch Whisper with Early Attentive Sparsification.

    from whisper_eas import load_model, transcribe, EASConfig
    model = load_model("tiny.en")
    print(transcribe(model, "speech.flac", eas=EASConfig(layer=2, sparsity=0.5)).text)
"""

from .audio import load_audio, log_mel_spectrogram, pad_or_trim
from .decoding import DecodingOptions, greedy_decode
from .loading import convert, load_model
from .model import ModelDims, Whisper
from .sparsify import EASConfig
from .tokenizer import Tokenizer
from .transcribe import Transcription, transcribe

__all__ = [
    "DecodingOptions", "EASConfig", "ModelDims", "Tokenizer", "Transcription", "Whisper", "convert",
    "greedy_decode", "load_audio", "load_model", "log_mel_spectrogram", "pad_or_trim", "transcribe",
]  # fmt: skip
__version__ = "0.1.0"
