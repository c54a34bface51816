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

# Our modules' bytecode, compiled as a non-editable install compiles it: where
# PYTHONDONTWRITEBYTECODE is set (these machines, many container images) Python would otherwise
# compile them anew in every process, ~0.06 s of each `whisper-eas` run (2026-12-05, AMX Xeon).
# Only changed files are compiled again; a stale file is compiled in memory, as before.
.PHONY: demo test bytecode
bytecode: $(STAMP)
	$(PYTHON) -m compileall -q whisper_eas

demo: bytecode  ## transcribe the bundled sample clip with the bundled tiny.en, with and without EAS
	$(VENV)/bin/whisper-eas transcribe tests/data/jfk.flac
	$(VENV)/bin/whisper-eas transcribe tests/data/jfk.flac --eas --output-format srt

test: bytecode  ## the whole test suite, CPU only
	$(PYTHON) -m pytest -q
