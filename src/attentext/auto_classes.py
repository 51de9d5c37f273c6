"""Register attentext's model types with transformers' Auto classes, without importing transformers.

`AutoModelForSequenceClassification.from_pretrained(run_dir)` and `pipeline(...)` only know
attentext's configs once they are registered, and registering needs transformers and torch
(seconds to import). `import attentext` must stay light, so the registration waits for
transformers: it runs now if transformers is already imported, else right after the first
`import transformers`, by a one-shot import hook (the post-import-hook pattern of `wrapt`).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import warnings
from collections.abc import Callable
from types import ModuleType

TRANSFORMERS = "transformers"


_registered = False


def _attentext_initializing() -> bool:
    """Whether an attentext module is being imported right now (transformers first imported from
    inside it): registering then would import modules that are only half made."""
    return any(
        getattr(getattr(module, "__spec__", None), "_initializing", False)
        for name, module in list(sys.modules.items())
        if name.startswith("attentext.")
    )


def _register() -> None:
    """Register the families, unless attentext itself is mid-import: then attentext's loaders
    register before they load a run, and the next public name used registers too."""
    global _registered
    if _registered or _attentext_initializing():
        return
    try:
        from attentext.models.registry import register_auto_classes

        register_auto_classes()
        _registered = True
    except Exception as error:  # never break the user's `import transformers`
        warnings.warn(
            f"attentext could not register its models with transformers' Auto classes ({error})",
            stacklevel=2,
        )


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs `callback` once, right after module `name` has been executed."""

    def __init__(self, name: str, callback: Callable[[], None]) -> None:
        self.name, self.callback = name, callback

    def find_spec(self, fullname, path=None, target=None):  # noqa: ANN001 (importlib's signature)
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # one shot; the real finders answer below
        spec = importlib.util.find_spec(fullname)
        loader = getattr(spec, "loader", None)
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        execute, callback = loader.exec_module, self.callback

        def exec_module(module: ModuleType) -> None:
            execute(module)
            callback()

        loader.exec_module = exec_module  # this loader instance serves this one import
        return spec


def register_when_transformers_loads() -> None:
    """Register now if transformers is imported, else as soon as it is (idempotent, cheap once
    done: `attentext.__getattr__` calls it after each public name it loads)."""
    if _registered:
        return
    if TRANSFORMERS in sys.modules:
        _register()
    elif not any(isinstance(f, _AfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport(TRANSFORMERS, _register))
