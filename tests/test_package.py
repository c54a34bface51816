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
