"""Checkpoint formats, the name tables, strict loading, and every model size's shapes."""

import json
import shutil

import pytest
import torch
from conftest import DATA

from whisper_eas import load_model, transcribe
from whisper_eas.checkpoints import (
    empty_model,
    hf_config,
    read_checkpoint,
    read_ct2,
    save_hf_folder,
)
from whisper_eas.hub import BUNDLED, _package_path, resolve
from whisper_eas.model import ModelDims, Whisper

# Real configs of the sizes we have no weights for (from their HF config.json files).
SIZES = {
    "tiny.en": (ModelDims(80, 1500, 384, 6, 4, 51864, 448, 384, 6, 4), 37.8e6),
    "base": (ModelDims(80, 1500, 512, 8, 6, 51865, 448, 512, 8, 6), 72.6e6),
    "small": (ModelDims(80, 1500, 768, 12, 12, 51865, 448, 768, 12, 12), 242e6),
    "large-v3": (ModelDims(128, 1500, 1280, 20, 32, 51866, 448, 1280, 20, 32), 1.54e9),
    "large-v3-turbo": (ModelDims(128, 1500, 1280, 20, 32, 51866, 448, 1280, 20, 4), 809e6),
    "distil-large-v3": (ModelDims(128, 1500, 1280, 20, 32, 51866, 448, 1280, 20, 2), 756e6),
}


@pytest.mark.parametrize("name", SIZES)
def test_parameter_counts_match_published_sizes(name):
    dims, published = SIZES[name]
    model = empty_model(dims)  # meta device: shapes without memory
    count = sum(
        t.numel() for t in model.state_dict().values()
    )  # the position table counts, as in HF
    assert abs(count - published) / published < 0.01, f"{name}: {count / 1e6:.1f} M"


def shrunk(dims: ModelDims) -> ModelDims:
    """Same mels, vocabulary and layer counts, narrow width: affordable random weights."""
    return ModelDims(
        dims.n_mels,
        dims.n_audio_ctx,
        64,
        2,
        dims.n_audio_layer,
        dims.n_vocab,
        dims.n_text_ctx,
        64,
        2,
        dims.n_text_layer,
    )


@pytest.mark.parametrize("name", ["large-v3", "large-v3-turbo", "distil-large-v3"])
def test_random_weights_of_every_shape_load_in_transformers_and_agree(name, tmp_path):
    """128 mels, vocab 51866, 4- and 2-layer decoders: our HF writer -> transformers and us."""
    from transformers import WhisperForConditionalGeneration

    dims = shrunk(SIZES[name][0])
    torch.manual_seed(0)
    model = Whisper(dims)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.05)
    save_hf_folder(
        tmp_path,
        dims,
        model.state_dict(),
        {"config.json": hf_config(dims, (), (220, 50257), 50257, 50258)},
    )
    checkpoint = read_checkpoint(tmp_path)
    loaded = empty_model(dims)
    loaded.load_state_dict(checkpoint.state_dict, assign=True)
    reference = WhisperForConditionalGeneration.from_pretrained(
        tmp_path, attn_implementation="eager"
    ).eval()
    mel = torch.randn(2, dims.n_mels, 3000)
    tokens = torch.tensor(
        [[50258, 50259, 50360, 50364, 400, 500], [50258, 50260, 50360, 50364, 401, 501]]
    )
    with torch.inference_mode():
        expected = reference(input_features=mel, decoder_input_ids=tokens).logits
        cache = loaded.decoder.new_cache(loaded.encoder(mel, backends="eager"))
        actual = loaded.decoder(tokens, cache, "eager")
    assert (actual - expected).abs().max() < 1e-4


def test_ct2_parts_equal_whole_file(tmp_path):
    bundle = BUNDLED["tiny.en"]
    whole = _package_path(*bundle.parts[0])
    data = whole.read_bytes()
    cut = len(data) // 3
    (tmp_path / "model.bin.part1").write_bytes(data[:cut])
    (tmp_path / "model.bin.part2").write_bytes(data[cut : 2 * cut])
    (tmp_path / "model.bin.part3").write_bytes(data[2 * cut :])
    shutil.copy(whole.parent / "config.json", tmp_path / "config.json")
    shutil.copy(whole.parent / "tokenizer.json", tmp_path / "tokenizer.json")
    split, single = read_checkpoint(tmp_path), read_ct2([whole], whole.parent)
    assert split.dims == single.dims and split.suppress_tokens == single.suppress_tokens
    for name, tensor in single.state_dict.items():
        assert torch.equal(tensor, split.state_dict[name]), name


def test_ct2_folder_loads_directly_and_transcribes(tiny):
    folder = _package_path(*BUNDLED["tiny.en"].vocabulary)
    direct = load_model(folder)
    for name, tensor in tiny.network.state_dict().items():
        assert torch.equal(tensor, direct.network.state_dict()[name]), name


def test_convert_cli_round_trip_and_openai_pt(tiny, tmp_path):
    from whisper_eas.cli import main

    assert (
        main(["convert", str(_package_path(*BUNDLED["tiny.en"].vocabulary)), str(tmp_path / "hf")])
        == 0
    )
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} <= {
        p.name for p in (tmp_path / "hf").iterdir()
    }
    reloaded = load_model(tmp_path / "hf")
    # OpenAI .pt: {"dims", "model_state_dict"} with openai/whisper's names (= ours).
    from dataclasses import asdict

    torch.save(
        {"dims": asdict(tiny.dims), "model_state_dict": tiny.network.state_dict()},
        tmp_path / "tiny.en.pt",
    )
    from_pt = load_model(tmp_path / "tiny.en.pt")
    assert (
        from_pt.suppress_tokens == tiny.suppress_tokens
    )  # derived from the vocabulary, equal to the stored list + controls
    for name, tensor in tiny.network.state_dict().items():
        assert torch.equal(tensor, reloaded.network.state_dict()[name]) and torch.equal(
            tensor, from_pt.network.state_dict()[name]
        ), name
    assert transcribe(from_pt, DATA / "jfk.flac").text == transcribe(tiny, DATA / "jfk.flac").text


def test_sharded_safetensors(tiny, hf_folder, tmp_path):
    from safetensors.torch import load_file, save_file

    tensors = load_file(hf_folder["tiny.en"] / "model.safetensors")
    names = sorted(tensors)
    shards = {
        "model-00001-of-00002.safetensors": names[: len(names) // 2],
        "model-00002-of-00002.safetensors": names[len(names) // 2 :],
    }
    for shard, keys in shards.items():
        save_file({k: tensors[k] for k in keys}, tmp_path / shard)
    index = {"weight_map": {k: shard for shard, keys in shards.items() for k in keys}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    shutil.copy(hf_folder["tiny.en"] / "config.json", tmp_path)
    shutil.copy(hf_folder["tiny.en"] / "tokenizer.json", tmp_path)
    sharded = load_model(tmp_path)
    assert all(
        torch.equal(t, sharded.network.state_dict()[n])
        for n, t in tiny.network.state_dict().items()
    )


def copy_hf(source, destination, tensors_edit=None):
    from safetensors.torch import load_file, save_file

    destination.mkdir()
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(source / name, destination)
    tensors = load_file(source / "model.safetensors")
    if tensors_edit:
        tensors_edit(tensors)
    save_file(tensors, destination / "model.safetensors")


def _drop_fc1(tensors):
    tensors.pop("model.encoder.layers.2.fc1.weight")


def _shrink_fc2_bias(tensors):
    tensors["model.decoder.layers.1.fc2.bias"] = torch.zeros(7)


def _add_extra(tensors):
    tensors["model.encoder.extra.weight"] = torch.zeros(3)


@pytest.mark.parametrize(
    "edit, message",
    [
        (_drop_fc1, r"missing: encoder\.blocks\.2\.mlp\.0\.weight"),
        (_shrink_fc2_bias, r"mis-shaped: decoder\.blocks\.1\.mlp\.2\.bias \(7,\)"),
        (_add_extra, r"unexpected: model\.encoder\.extra\.weight"),
    ],
    ids=["missing", "mis-shaped", "unexpected"],
)
def test_bad_tensors_are_named(hf_folder, tmp_path, edit, message):
    copy_hf(hf_folder["tiny.en"], tmp_path / "m", edit)
    with pytest.raises(ValueError, match=message):
        load_model(tmp_path / "m")


def test_corrupt_safetensors(hf_folder, tmp_path):
    (tmp_path / "m").mkdir()
    shutil.copy(hf_folder["tiny.en"] / "config.json", tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(ValueError, match="cannot read weight file"):
        load_model(tmp_path / "m")


def test_truncated_ct2(tmp_path):
    whole = _package_path(*BUNDLED["tiny.en"].parts[0])
    (tmp_path / "model.bin").write_bytes(whole.read_bytes()[:100_000])
    with pytest.raises(ValueError, match="corrupt or truncated"):
        load_model(tmp_path)


def test_folder_without_weights(tmp_path):
    with pytest.raises(FileNotFoundError, match="no Whisper weights"):
        load_model(tmp_path)


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown model 'tiny-ultra'"):
        load_model("tiny-ultra")


def test_hub_offline_gives_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ConnectionError, match="cannot fetch 'openai/whisper-small'.*offline"):
        resolve("small")


@pytest.mark.parametrize("dtype", ["float64", "int4", "fp8"])
def test_unsupported_dtype(dtype):
    with pytest.raises(ValueError, match="unsupported dtype"):
        load_model("tiny.en", dtype=dtype)


def test_unsupported_device():
    with pytest.raises(ValueError, match="device"):
        load_model("tiny.en", device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            load_model("tiny.en", device="cuda")


def test_bundled_model_is_converted_once_into_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("WHISPER_EAS_CACHE", str(tmp_path))
    first = resolve("tiny.en")
    stamp = (first / "model.safetensors").stat().st_mtime_ns
    assert resolve("tiny.en") == first and (first / "model.safetensors").stat().st_mtime_ns == stamp
    assert first.parent == tmp_path and not [p for p in tmp_path.iterdir() if p != first]


def test_openai_pt_without_the_encoder_position_table(tiny, tmp_path):
    """Older openai-whisper files store no encoder position table (a non-persistent buffer):
    it is rebuilt, not copied out of a storage-less (meta) model."""
    from dataclasses import asdict

    state = dict(tiny.network.state_dict())
    table = state.pop("encoder.positional_embedding")
    torch.save({"dims": asdict(tiny.dims), "model_state_dict": state}, tmp_path / "old.pt")
    loaded = load_model(tmp_path / "old.pt")
    rebuilt = loaded.network.encoder.positional_embedding
    assert rebuilt.device.type == "cpu" and (rebuilt - table).abs().max() < 1e-3  # CT2 stores fp16
    assert transcribe(loaded, DATA / "jfk.flac").text == transcribe(tiny, DATA / "jfk.flac").text
