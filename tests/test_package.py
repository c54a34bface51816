"""The package's shape: the core never imports the research harness or the CLI, no import
cycles, and `import whisper_eas` loads no harness-only library."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "whisper_eas"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every whisper_eas module `path` imports, at the top or inside a function."""
    own = module_name(path)
    package = own if path.name == "__init__.py" else own.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{alias.name}" for alias in node.names]
            found |= {
                n for n in names if (PACKAGE.parent / (n.replace(".", "/") + ".py")).is_file()
            }
            found.add(target)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return {name for name in found if name.startswith("whisper_eas") and name != own}


GRAPH = {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}
HARNESS = ("whisper_eas.research", "whisper_eas.cli", "whisper_eas.__main__")  # CLI entry too


def test_core_never_imports_the_harness():
    for module, imported in GRAPH.items():
        if not module.startswith(HARNESS):
            assert not {m for m in imported if m.startswith(HARNESS)}, module


def test_no_import_cycle():
    def visit(module, path):
        for target in GRAPH.get(module, ()):
            if target == "whisper_eas" or target not in GRAPH:
                continue
            assert target not in path, " -> ".join([*path, target])
            visit(target, [*path, target])

    for module in GRAPH:
        visit(module, [module])


def test_import_loads_no_harness_library():
    code = (
        "import sys, whisper_eas; bad = [m for m in sys.modules if m.split('.')[0] in "
        "('jiwer', 'matplotlib', 'whisper_normalizer') or m.startswith(('whisper_eas.research', "
        "'whisper_eas.cli'))]; print(bad)"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == "[]"


def test_loading_and_transcribing_a_clip_never_imports_the_compiler():
    """Building a model on the meta device once ran `arange` and `normal_` through PyTorch's
    Python decompositions, whose first use imports torch._dynamo and sympy: a second of every
    short file's time, and 140 MB."""
    code = (
        "import sys, whisper_eas; "
        "model = whisper_eas.load_model('tiny.en'); "
        "whisper_eas.load_model('tiny.en', dtype='int8'); "
        "whisper_eas.transcribe(model, sys.argv[1]); "
        "print([m for m in ('torch._dynamo', 'sympy') if m in sys.modules])"
    )
    clip = str(Path(__file__).parent / "data" / "jfk.flac")
    output = subprocess.run(
        [sys.executable, "-c", code, clip], capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == "[]"


def test_the_program_imports_torch_without_what_it_never_uses():
    """`whisper-eas` and `python -m whisper_eas` import torch without `torch._meta_registrations`
    and `torch.export` (`startup`): the meta-device model the checkpoint reader builds, int8's
    load and a transcription run without them, to the same segments and log-probabilities;
    loading a keep rule of one's own (`startup.complete()`) brings both back. A program
    importing the package as a library gets all of torch."""
    code = (
        "import sys; sys.argv[0] = 'whisper-eas'; "  # what the console script's process has
        "import whisper_eas, torch; from whisper_eas import startup; "
        "print([m for m in startup.DEFERRED if m in sys.modules], hasattr(torch, 'export')); "
        "whisper_eas.load_model('tiny.en', dtype='int8'); "
        "r = whisper_eas.transcribe(whisper_eas.load_model('tiny.en'), sys.argv[1]); "
        "print([(s.text, s.start, s.end, s.avg_logprob, s.no_speech_prob) for s in r.segments]); "
        "whisper_eas.rules.load_rule('whisper_eas.rules:Truncate'); "  # a rule gets all of torch
        "print([m for m in startup.DEFERRED if m in sys.modules], callable(torch.export.export))"
    )
    clip = str(Path(__file__).parent / "data" / "jfk.flac")
    lines = subprocess.run(
        [sys.executable, "-c", code, clip], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert lines[0] == "[] False"
    import whisper_eas

    r = whisper_eas.transcribe(whisper_eas.load_model("tiny.en"), clip)  # with all of torch
    assert lines[1] == str([(s.text, s.start, s.end, s.avg_logprob, s.no_speech_prob)
                            for s in r.segments])  # fmt: skip
    assert lines[2] == "['torch._meta_registrations', 'torch.export'] True"
    # `python -m whisper_eas`: known by the interpreter's own command line
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "whisper_eas", "transcribe", "--help"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    imported = {line.rpartition("|")[2].strip() for line in done.stderr.splitlines()}
    assert "torch" in imported and not imported & set(whisper_eas.startup.DEFERRED)


def test_a_deferred_module_reads_from_the_real_one():
    from whisper_eas.startup import Deferred

    stand_in = Deferred("colorsys")
    saved = sys.modules.pop("colorsys", None)
    sys.modules["colorsys"] = stand_in
    try:
        assert getattr(stand_in, "__file__", None) is None  # what inspect.getmodule reads
        assert stand_in.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
        assert sys.modules["colorsys"] is not stand_in  # the real one, imported then
    finally:
        sys.modules.pop("colorsys", None)
        if saved is not None:
            sys.modules["colorsys"] = saved
