"""Checkpoints in, a strictly loaded `Whisper` out.

Formats, all mapped by explicit name tables onto our parameter names (which are
openai/whisper's), every source key accounted for and every shape checked:
- Hugging Face: `config.json` + `model.safetensors` (or shards with an index);
- CTranslate2 / faster-whisper: `model.bin`, also split as `model.bin.part1`, `.part2`, ...
  (fused Q/K/V projections; float16/float32/bfloat16, or int8 with per-row scales);
- OpenAI `.pt`: `{"dims": ..., "model_state_dict": ...}`, read with `weights_only=True`.
`save_hf_folder` writes the Hugging Face layout (what `whisper-eas convert` produces).
"""

import json
import re
import struct
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .model import ModelDims, Whisper, sinusoids

# --- our names and shapes ----------------------------------------------------------------


def empty_model(dims: ModelDims) -> Whisper:
    """A Whisper with no storage: names and shapes for checks, filled by
    `load_state_dict(assign=True)`."""
    with torch.device("meta"):
        return Whisper(dims)


@lru_cache(maxsize=8)
def model_shapes(dims: ModelDims) -> dict[str, torch.Size]:
    """Each parameter and buffer name of a Whisper of `dims` with its shape; built once per dims
    (an empty model takes ~0.08 s to build, a third of a tiny.en load)."""
    return {name: tensor.shape for name, tensor in empty_model(dims).state_dict().items()}


def check_state_dict(dims: ModelDims, source: dict[str, Tensor], origin: str) -> dict[str, Tensor]:
    """Names and shapes must equal the model's exactly; every problem is listed in one error."""
    expected = model_shapes(dims)
    missing = sorted(set(expected) - set(source))
    unexpected = sorted(set(source) - set(expected))
    misshaped = [
        f"{name} {tuple(source[name].shape)} (model: {tuple(expected[name])})"
        for name in sorted(set(expected) & set(source))
        if source[name].shape != expected[name]
    ]
    problems = [
        (kind, names)
        for kind, names in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("mis-shaped", misshaped),
        )
        if names
    ]
    if problems:
        listed = "; ".join(
            f"{kind}: {', '.join(names[:6])}{' ...' if len(names) > 6 else ''}"
            for kind, names in problems
        )
        raise ValueError(f"checkpoint {origin} does not fit a Whisper of {dims}: {listed}")
    return source


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint holds, in our names."""

    dims: ModelDims
    state_dict: dict[str, Tensor]
    # None: not stored; load_model derives openai-whisper's lists from the tokenizer.
    suppress_tokens: tuple[int, ...] | None
    begin_suppress_tokens: tuple[int, ...] | None
    vocabulary_folder: Path | None  # folder with tokenizer.json or vocab.json, if any
    alignment_heads: tuple[tuple[int, int], ...] | None = None  # (decoder layer, head) for timing
    int8: bool = False  # stored as int8 (CTranslate2): `load_model` keeps it int8 by default


# --- Hugging Face ------------------------------------------------------------------------

# Per-block names, ours (openai/whisper's) -> WhisperForConditionalGeneration's.
HF_BLOCK = {
    "attn.query": "self_attn.q_proj",
    "attn.key": "self_attn.k_proj",
    "attn.value": "self_attn.v_proj",
    "attn.out": "self_attn.out_proj",
    "attn_ln": "self_attn_layer_norm",
    "cross_attn.query": "encoder_attn.q_proj",
    "cross_attn.key": "encoder_attn.k_proj",
    "cross_attn.value": "encoder_attn.v_proj",
    "cross_attn.out": "encoder_attn.out_proj",
    "cross_attn_ln": "encoder_attn_layer_norm",
    "mlp.0": "fc1",
    "mlp.2": "fc2",
    "mlp_ln": "final_layer_norm",
}
HF_TOP = {
    "encoder.conv1": "model.encoder.conv1",
    "encoder.conv2": "model.encoder.conv2",
    "encoder.positional_embedding": "model.encoder.embed_positions.weight",
    "encoder.ln_post": "model.encoder.layer_norm",
    "decoder.ln": "model.decoder.layer_norm",
    "decoder.token_embedding.weight": "model.decoder.embed_tokens.weight",
    "decoder.positional_embedding": "model.decoder.embed_positions.weight",
}
HF_TIED_OUTPUT = "proj_out.weight"  # stored by some exports; must equal embed_tokens


def hf_name(ours: str) -> str:
    """Our parameter name -> the Hugging Face one, by table."""
    for prefix, theirs in HF_TOP.items():
        if ours == prefix or ours.startswith(prefix + "."):
            return theirs + ours[len(prefix) :]
    stack, _, index, rest = ours.split(".", 3)  # encoder . blocks . 3 . attn.query.weight
    module, _, param = rest.rpartition(".")
    return f"model.{stack}.layers.{index}.{HF_BLOCK[module]}.{param}"


def dims_from_hf_config(config: dict) -> ModelDims:
    if config.get("model_type", "whisper") != "whisper":
        raise ValueError(f"config.json describes a {config['model_type']!r} model, not Whisper")
    try:
        dims = ModelDims(
            n_mels=config["num_mel_bins"],
            n_audio_ctx=config["max_source_positions"],
            n_audio_state=config["d_model"],
            n_audio_head=config["encoder_attention_heads"],
            n_audio_layer=config["encoder_layers"],
            n_vocab=config["vocab_size"],
            n_text_ctx=config["max_target_positions"],
            n_text_state=config["d_model"],
            n_text_head=config["decoder_attention_heads"],
            n_text_layer=config["decoder_layers"],
        )
    except KeyError as error:
        raise ValueError(f"config.json lacks the Whisper field {error}") from error
    for field in ("encoder_ffn_dim", "decoder_ffn_dim"):
        if config.get(field, 4 * dims.n_audio_state) != 4 * dims.n_audio_state:
            raise ValueError(
                f"{field}={config[field]} is not 4 * d_model: not a Whisper architecture"
            )
    return dims


def from_hf_names(dims: ModelDims, tensors: dict[str, Tensor], origin: str) -> dict[str, Tensor]:
    ours_by_hf = {hf_name(name): name for name in model_shapes(dims)}
    tied = tensors.pop(HF_TIED_OUTPUT, None)
    embed = tensors.get(HF_TOP["decoder.token_embedding.weight"])
    if tied is not None and embed is not None and not torch.equal(tied, embed):
        raise ValueError(
            f"{origin}: {HF_TIED_OUTPUT} differs from the token embedding; Whisper ties them"
        )
    renamed = {ours_by_hf.get(name, name): tensor for name, tensor in tensors.items()}
    return check_state_dict(dims, renamed, origin)


def read_hf_folder(folder: Path) -> Checkpoint:
    from safetensors.torch import load_file

    config = json.loads((folder / "config.json").read_text())
    dims = dims_from_hf_config(config)
    index = folder / "model.safetensors.index.json"
    shards = (
        sorted(set(json.loads(index.read_text())["weight_map"].values()))
        if index.is_file()
        else ["model.safetensors"]
    )
    tensors: dict[str, Tensor] = {}
    for shard in shards:
        if not (folder / shard).is_file():
            raise FileNotFoundError(f"missing weight file {folder / shard}")
        try:
            tensors.update(load_file(folder / shard))
        except Exception as error:  # safetensors raises its own error types for corrupt headers
            raise ValueError(f"cannot read weight file {folder / shard}: {error}") from error
    generation_file = folder / "generation_config.json"
    generation = json.loads(generation_file.read_text()) if generation_file.is_file() else config
    suppress, begin = generation.get("suppress_tokens"), generation.get("begin_suppress_tokens")
    return Checkpoint(
        dims=dims,
        state_dict=from_hf_names(dims, tensors, str(folder)),
        suppress_tokens=tuple(suppress) if suppress is not None else None,
        begin_suppress_tokens=tuple(begin) if begin is not None else None,
        vocabulary_folder=folder,
        alignment_heads=heads_of(generation.get("alignment_heads")),
    )


# --- CTranslate2 -------------------------------------------------------------------------

# Whole-tensor renames per block, ours -> CTranslate2 scope. The fused projections are split below.
CT2_BLOCK = {
    "attn.out": "self_attention/linear_1",
    "attn_ln": "self_attention/layer_norm",
    "cross_attn.query": "attention/linear_0",
    "cross_attn.out": "attention/linear_2",
    "cross_attn_ln": "attention/layer_norm",
    "mlp.0": "ffn/linear_0",
    "mlp.2": "ffn/linear_1",
    "mlp_ln": "ffn/layer_norm",
}
CT2_DTYPES = {
    0: np.float32,
    1: np.int8,
    2: np.int16,
    3: np.int32,
    4: np.float16,
    5: "bfloat16",
}  # its DataType enum
# Scalars CTranslate2 stores as model options: read (num_heads) or known to be fixed for Whisper.
CT2_OPTIONS = {
    "activation",
    "alibi",
    "alibi_use_positive_positions",
    "scale_alibi",
    "alignment_heads",
    "alignment_layer",
    "num_heads",
    "pre_norm",
    "scale_embeddings",
    "start_from_zero_embedding",
    "embeddings_merge",
    "layernorm_embedding",
    "multi_query",
    "rms_norm",
    "rotary_dim",
    "rotary_interleave",
}


def read_ct2_variables(parts: list[Path]) -> dict[str, np.ndarray]:
    """Parse CTranslate2's binary format (version 6) from one file or its parts, in order."""
    for part in parts:
        if not part.is_file():
            raise FileNotFoundError(f"missing CTranslate2 model file {part}")
    data = memoryview(b"".join(part.read_bytes() for part in parts))
    position = 0

    def take(fmt: str):
        nonlocal position
        values = struct.unpack_from("<" + fmt, data, position)
        position += struct.calcsize("<" + fmt)
        return values[0] if len(values) == 1 else values

    def take_string() -> str:
        nonlocal position
        length = take("H")
        text = bytes(data[position : position + length - 1]).decode("utf-8")  # drop the NUL
        position += length
        return text

    try:
        version = take("I")
        if version != 6:
            raise ValueError(f"CTranslate2 binary version {version} (only 6 is supported)")
        spec, _revision = take_string(), take("I")
        if spec != "WhisperSpec":
            raise ValueError(f"CTranslate2 model is a {spec!r}, not a WhisperSpec")
        variables = {}
        for _ in range(take("I")):
            name = take_string()
            shape = [take("I") for _ in range(take("B"))]
            dtype, n_bytes = CT2_DTYPES[take("B")], take("I")
            if position + n_bytes > len(data):
                raise ValueError(f"variable {name} needs {n_bytes} bytes, the file ends first")
            raw = data[position : position + n_bytes]
            position += n_bytes
            if dtype == "bfloat16":  # numpy has no bfloat16: go through torch
                array = torch.frombuffer(bytearray(raw), dtype=torch.bfloat16).float().numpy()
            else:
                array = np.frombuffer(raw, dtype=dtype)
            variables[name] = array.reshape(shape)
        for _ in range(take("I")):
            alias, target = take_string(), take_string()
            variables[alias] = variables[target]
    except (struct.error, KeyError, UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"corrupt or truncated CTranslate2 model {parts[0]}: {error}") from error
    return variables


# Whole-model names, ours -> CTranslate2's (per-block names: CT2_BLOCK).
CT2_TOP = {
    "encoder.conv1.weight": "encoder/conv1/weight",
    "encoder.conv1.bias": "encoder/conv1/bias",
    "encoder.conv2.weight": "encoder/conv2/weight",
    "encoder.conv2.bias": "encoder/conv2/bias",
    "encoder.positional_embedding": "encoder/position_encodings/encodings",
    "encoder.ln_post.weight": "encoder/layer_norm/gamma",
    "encoder.ln_post.bias": "encoder/layer_norm/beta",
    "decoder.token_embedding.weight": "decoder/embeddings/weight",
    "decoder.positional_embedding": "decoder/position_encodings/encodings",
    "decoder.ln.weight": "decoder/layer_norm/gamma",
    "decoder.ln.bias": "decoder/layer_norm/beta",
}


def ct2_dims(variables: dict[str, np.ndarray]) -> ModelDims:
    """The ten integers, read off the variables' shapes and the stored head counts."""

    def layer_count(stack: str) -> int:
        pattern = re.compile(rf"{stack}/layer_(\d+)/")
        return len({match[1] for name in variables if (match := pattern.match(name))})

    embeddings = variables["decoder/embeddings/weight"]
    return ModelDims(
        n_mels=variables["encoder/conv1/weight"].shape[1],
        n_audio_ctx=variables["encoder/position_encodings/encodings"].shape[0],
        n_audio_state=embeddings.shape[1],
        n_audio_head=int(variables["encoder/num_heads"]),
        n_audio_layer=layer_count("encoder"),
        n_vocab=embeddings.shape[0],
        n_text_ctx=variables["decoder/position_encodings/encodings"].shape[0],
        n_text_state=embeddings.shape[1],
        n_text_head=int(variables["decoder/num_heads"]),
        n_text_layer=layer_count("decoder"),
    )


def read_ct2(parts: list[Path], folder: Path) -> Checkpoint:
    variables = read_ct2_variables(parts)
    used: set[str] = set()

    def take(name: str) -> Tensor:
        if name not in variables:
            raise ValueError(f"CTranslate2 model {parts[0]} lacks the variable {name}")
        used.add(name)
        value = torch.from_numpy(np.array(variables[name])).float()
        if name + "_scale" in variables:  # int8 weights: one scale per output row. Dividing is
            # undone exactly by `quantize.quantize_weight` (same per-row max-abs rule), so an
            # int8 model loaded as int8 keeps CTranslate2's very integers.
            value = value / take(name + "_scale")[:, None]
        return value

    dims = ct2_dims(variables)
    ours: dict[str, Tensor] = {name: take(theirs) for name, theirs in CT2_TOP.items()}
    used.add("decoder/projection/weight")  # an alias of the embedding: the output is tied

    def split_fused(scope: str, names: list[str], key_index: int) -> None:
        """A fused projection holds len(names) stacked matrices; Whisper's key has no bias,
        and CTranslate2 stores zeros in its place."""
        weights = take(f"{scope}/weight").chunk(len(names))
        biases = take(f"{scope}/bias").chunk(len(names))
        if biases[key_index].abs().max() > 0:
            raise ValueError(f"{scope}: non-zero key bias; not a Whisper checkpoint")
        for i, name in enumerate(names):
            ours[f"{name}.weight"] = weights[i]
            if i != key_index:
                ours[f"{name}.bias"] = biases[i]

    for stack, n_layers in (("encoder", dims.n_audio_layer), ("decoder", dims.n_text_layer)):
        for i in range(n_layers):
            block, scope = f"{stack}.blocks.{i}", f"{stack}/layer_{i}"
            split_fused(
                f"{scope}/self_attention/linear_0",
                [f"{block}.attn.{n}" for n in ("query", "key", "value")],
                1,
            )
            if stack == "decoder":
                split_fused(
                    f"{scope}/attention/linear_1",
                    [f"{block}.cross_attn.{n}" for n in ("key", "value")],
                    0,
                )
            for module, theirs in CT2_BLOCK.items():
                if module.startswith("cross_attn") and stack == "encoder":
                    continue
                is_norm = module.endswith("_ln")
                ours[f"{block}.{module}.weight"] = take(
                    f"{scope}/{theirs}/{'gamma' if is_norm else 'weight'}"
                )
                ours[f"{block}.{module}.bias"] = take(
                    f"{scope}/{theirs}/{'beta' if is_norm else 'bias'}"
                )

    leftovers = [n for n in variables if n not in used and n.split("/")[-1] not in CT2_OPTIONS]
    if leftovers:
        raise ValueError(
            f"CTranslate2 model {parts[0]} has variables no Whisper tensor uses: {leftovers[:6]}"
        )
    config_file = folder / "config.json"
    config = json.loads(config_file.read_text()) if config_file.is_file() else {}
    suppress, begin = config.get("suppress_ids"), config.get("suppress_ids_begin")
    vocabulary = (
        folder if any((folder / f).is_file() for f in ("tokenizer.json", "vocab.json")) else None
    )
    return Checkpoint(
        dims=dims,
        state_dict=check_state_dict(dims, ours, str(parts[0])),
        suppress_tokens=tuple(suppress) if suppress is not None else None,
        begin_suppress_tokens=tuple(begin) if begin is not None else None,
        vocabulary_folder=vocabulary,
        alignment_heads=heads_of(config.get("alignment_heads")),
        int8=any(name.endswith("_scale") for name in variables),
    )


# --- OpenAI ------------------------------------------------------------------------------


def read_openai(path: Path) -> Checkpoint:
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle and zip errors vary by corruption
        raise ValueError(f"cannot read OpenAI checkpoint {path}: {error}") from error
    if (
        not isinstance(checkpoint, dict)
        or "dims" not in checkpoint
        or "model_state_dict" not in checkpoint
    ):
        raise ValueError(
            f"{path} is not an OpenAI Whisper checkpoint (expected 'dims' and 'model_state_dict')"
        )
    dims = ModelDims(**checkpoint["dims"])
    state = dict(checkpoint["model_state_dict"])
    # A buffer marking the cross-attention heads for word timing (layers x heads), not a weight.
    heads = state.pop("alignment_heads", None)
    heads = heads.to_dense().nonzero().tolist() if isinstance(heads, Tensor) else None
    # Older openai-whisper files store no encoder position table (it was a non-persistent buffer).
    state.setdefault(
        "encoder.positional_embedding", sinusoids(dims.n_audio_ctx, dims.n_audio_state)
    )
    state_dict = check_state_dict(dims, state, str(path))
    return Checkpoint(dims, state_dict, None, None, None, heads_of(heads))


def heads_of(pairs) -> tuple[tuple[int, int], ...] | None:
    return tuple((int(layer), int(head)) for layer, head in pairs) if pairs else None


# --- dispatch and writing ----------------------------------------------------------------


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint folder (HF or CTranslate2) or an OpenAI `.pt` file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if path.is_file():
        if path.suffix == ".pt":
            return read_openai(path)
        raise ValueError(f"{path} is a file; expected a checkpoint folder or an OpenAI .pt file")
    if (path / "model.safetensors").is_file() or (path / "model.safetensors.index.json").is_file():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} has safetensors weights but no config.json")
        return read_hf_folder(path)
    if (path / "model.bin").is_file():
        return read_ct2([path / "model.bin"], path)
    parts = sorted(
        path.glob("model.bin.part*"),
        key=lambda p: int(p.suffix[5:]) if p.suffix[5:].isdigit() else -1,
    )
    if parts:
        return read_ct2(parts, path)
    raise FileNotFoundError(
        f"no Whisper weights in {path}: expected model.safetensors (+ config.json), "
        "a CTranslate2 model.bin, or model.bin.part1..N"
    )


def hf_config(
    dims: ModelDims, suppress: tuple[int, ...], begin_suppress: tuple[int, ...], eot: int, sot: int
) -> dict:
    return {
        "architectures": ["WhisperForConditionalGeneration"],
        "model_type": "whisper",
        "num_mel_bins": dims.n_mels,
        "max_source_positions": dims.n_audio_ctx,
        "d_model": dims.n_audio_state,
        "encoder_attention_heads": dims.n_audio_head,
        "encoder_layers": dims.n_audio_layer,
        "decoder_attention_heads": dims.n_text_head,
        "decoder_layers": dims.n_text_layer,
        "encoder_ffn_dim": 4 * dims.n_audio_state,
        "decoder_ffn_dim": 4 * dims.n_text_state,
        "vocab_size": dims.n_vocab,
        "max_target_positions": dims.n_text_ctx,
        "activation_function": "gelu",
        "scale_embedding": False,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "bos_token_id": eot,
        "eos_token_id": eot,
        "pad_token_id": eot,
        "decoder_start_token_id": sot,
        "suppress_tokens": list(suppress),
        "begin_suppress_tokens": list(begin_suppress),
    }


def save_hf_folder(
    folder: Path, dims: ModelDims, state_dict: dict[str, Tensor], files: dict[str, dict]
) -> None:
    """Write `model.safetensors` (float32, HF names) and the given JSON files into `folder`."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    tensors = {hf_name(name): tensor.float().contiguous() for name, tensor in state_dict.items()}
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    for name, content in files.items():
        (folder / name).write_text(
            json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
