import json
from pathlib import Path

import pytest
import torch

from whisper_eas import load_model
from whisper_eas.hub import resolve

DATA = Path(__file__).parent / "data"
MANIFEST = [json.loads(line) for line in (DATA / "manifest.jsonl").read_text().splitlines()]
FIXTURES = [DATA / record["audio"] for record in MANIFEST]


@pytest.fixture(scope="session", autouse=True)
def deterministic():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def tiny():
    return load_model("tiny.en")


@pytest.fixture(scope="session")
def base():
    return load_model("base")


@pytest.fixture(scope="session")
def tiny_int8():
    return load_model("tiny.en", dtype="int8")


@pytest.fixture(scope="session")
def models(tiny, base):
    return {"tiny.en": tiny, "base": base}


@pytest.fixture(scope="session")
def hf_folder():
    """The Hugging Face folder each bundled model was converted to (what transformers loads)."""
    return {name: resolve(name) for name in ("tiny.en", "base")}
