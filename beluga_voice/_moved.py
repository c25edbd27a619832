"""Old import paths kept alive for one release after a module move.

Shared pieces moved to the ground floor of the package (``audio/``, ``conversation.py``,
``secrets.py``) so that lower layers stop importing higher ones.  Code written against the
old paths keeps working for one release: the old module's ``__getattr__`` (built here)
fetches the name from its new home and emits a :class:`DeprecationWarning` naming it.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["moved_names"]


def moved_names(old: str, new: str, names: Iterable[str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving ``names`` of module ``old`` from module ``new``."""
    known = frozenset(names)

    def __getattr__(name: str) -> Any:
        if name not in known:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        warnings.warn(
            f"{old}.{name} has moved to {new}.{name}; the old path will be removed "
            "in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(importlib.import_module(new), name)

    return __getattr__
