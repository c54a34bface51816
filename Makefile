# Set-up is part of each target: a fresh machine needs nothing but Python 3.10+.
VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	# Install the CPU torch first (it lies on the project machines' disk); otherwise
	# pip would resolve "torch" to a multi-GB CUDA build.
	$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install -q "torch==2.13.0"
	$(PYTHON) -m pip install -q -e ".[test]"
	touch $(STAMP)

.PHONY: demo test
demo: $(STAMP)  ## transcribe the bundled sample clip with the bundled tiny.en, with and without EAS
	$(VENV)/bin/whisper-eas transcribe tests/data/jfk.flac
	$(VENV)/bin/whisper-eas transcribe tests/data/jfk.flac --eas --output-format srt

test: $(STAMP)  ## the whole test suite, CPU only
	$(PYTHON) -m pytest -q
