"""Lazy re-exports for a package's `__init__` (PEP 562), so `from engine.services import X`
imports only the module that defines X.

A command that previews one expression must not pay for importing the sync pipeline, the
connectors and every screen's service (issue 11: a CLI that answers at once). A package lists
what it re-exports and where each name lives; the names are imported on first access:

    _EXPORTS = {"Services": "engine.services.facade", "PushMapping": "engine.config.model:Mapping"}
    __getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
    if TYPE_CHECKING:  # the same names for mypy and import-linter
        from engine.services.facade import Services
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    module_globals: dict[str, Any], exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for the package whose `globals()` are MODULE_GLOBALS:
    EXPORTS maps each name to `module` (the same name there) or `module:attribute`."""
    package = module_globals["__name__"]

    def __getattr__(name: str) -> Any:
        where = exports.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attribute = where.partition(":")
        value = getattr(importlib.import_module(module), attribute or name)
        module_globals[name] = value  # the next access is a plain global
        return value

    def __dir__() -> list[str]:
        return sorted({*module_globals, *exports})

    return __getattr__, __dir__
