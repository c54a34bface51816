"""How the `whisper-eas` program imports torch: without two of torch's modules it never uses.

`import torch` runs `torch._meta_registrations` (Python kernels for tensors on the meta
device, with `torch._decomp`, `torch._refs` and `torch._prims` behind it) and `torch.export`
whatever the program does: 0.3-0.5 s of a 1.0-2.0 s import on the CPUs here, as long as a short
clip's decoding. Only tracing (`torch.compile`, `torch.export`) reads them; a transcription
runs none of them. Our one use of the meta device, an empty model whose weights the checkpoint
reader assigns (`checkpoints.empty_model`), needs only the C++ kernels (`tests/test_package.py`).

So the program (`whisper-eas ...`, `python -m whisper_eas ...`: nothing that imports the package
as a library) imports torch with stand-ins for the two, and takes the stand-ins out once torch is
in: a later `import torch.export` imports the real module, and `complete()` imports both, for
code of a user's own (a keep rule) that may trace. Where torch itself reads from a stand-in,
that stand-in imports the real module first (a torch of another version, say).
"""

import importlib
import sys
import types
from pathlib import Path

DEFERRED = ("torch._meta_registrations", "torch.export")


class Deferred(types.ModuleType):
    """A module's stand-in: anything read from it but its dunders (which `inspect.getmodule`
    reads off every module in `sys.modules`) comes from the real module, imported then."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), name)


def is_the_program() -> bool:
    """Whether this process is `whisper-eas ...` or `python -m whisper_eas ...`."""
    if Path(sys.argv[0]).stem == "whisper-eas":
        return True
    argv = getattr(sys, "orig_argv", [])
    return any(a == "-m" and b == "whisper_eas" for a, b in zip(argv, argv[1:]))


def import_torch() -> None:
    """`import torch` with stand-ins for the `DEFERRED` modules, taken out afterwards. Does
    nothing where torch is imported already."""
    if "torch" in sys.modules:
        return
    stand_ins = {name: Deferred(name) for name in DEFERRED}
    sys.modules.update(stand_ins)
    try:
        import torch  # noqa: F401
    finally:
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
            parent, _, child = name.rpartition(".")
            if getattr(sys.modules.get(parent), child, None) is stand_in:
                delattr(sys.modules[parent], child)


def complete() -> None:
    """Import what `import_torch` left out, where it did (nothing where it is imported)."""
    for name in DEFERRED:
        importlib.import_module(name)
