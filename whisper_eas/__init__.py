"""whisper-eas: a small, readable pure-PyTorch Whisper with Early Attentive Sparsification.

    from whisper_eas import load_model, transcribe, EASConfig
    model = load_model("tiny.en")
    result = transcribe(model, "speech.flac", eas=EASConfig.recommended("tiny.en"))
    print(result.text, result.segments[0].start)

The core (this package's top-level modules) never imports the research harness
(`whisper_eas.research`) or the command line (`whisper_eas.cli`).
"""

from .audio import load_audio, log_mel_spectrogram, pad_or_trim
from .decoding import DecodingOptions, DecodingResult, WhisperModel, decode
from .hub import convert, load_model
from .model import ModelDims, Whisper
from .rules import RandomKeep, Scoring, SpeechBudget, SpeechPrune, Tokens, TopK, Truncate, VADBudget
from .segments import Segment
from .sparsify import EASConfig
from .tokenizer import Tokenizer
from .transcribe import Transcription, transcribe, transcribe_stream
from .windows import Safeguards

__all__ = [
    "DecodingOptions",
    "DecodingResult",
    "EASConfig",
    "ModelDims",
    "Safeguards",
    "Segment",
    "Tokenizer",
    "Transcription",
    "RandomKeep",
    "Scoring",
    "SpeechBudget",
    "SpeechPrune",
    "Tokens",
    "TopK",
    "Truncate",
    "VADBudget",
    "Whisper",
    "WhisperModel",
    "convert",
    "decode",
    "load_audio",
    "load_model",
    "log_mel_spectrogram",
    "pad_or_trim",
    "transcribe",
    "transcribe_stream",
]
__version__ = "0.5.0"
