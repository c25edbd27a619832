"""Griffe extension for the documentation site: Sphinx roles in docstrings become links.

The package's docstrings name each other Sphinx-style (``:class:`~.state.VADParams```,
``:meth:`close```, ``:mod:`beluga_voice.audio.vad```), which reads well in source and in
``help()``.  mkdocstrings renders Markdown, where such a role would show as raw text;
this extension rewrites each role, once the whole package is loaded, as a cross-reference
to the object it names, resolved the way Python resolves the name in that module
(leading dots relative to the module's package, a bare name in the class, then in the
module, then absolute).

* A name that resolves to an object of the package becomes an *optional* autorefs link:
  a link where the object is rendered on the site, plain code where it is not (a private
  helper module that no reference page shows).
* A name that does not resolve but points into ``beluga_voice`` is a broken reference (an
  object renamed or moved and the docstring left behind): it is logged as a warning, so
  ``mkdocs build --strict`` (``make docs``) fails on it.
* Anything else (``anyio.Event``, ``asyncio``) is left as plain code.
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

import griffe

_log = logging.getLogger("mkdocs.plugins.beluga_voice.sphinx_roles")
_ROLE = re.compile(r":(?:py:)?(class|mod|func|meth|attr|exc|data|obj|const):`([^`]+)`")
_PACKAGE = "beluga_voice"


def _find(collection: Any, path: str) -> Any | None:
    try:
        return collection[path]
    except Exception:  # KeyError, alias resolution errors: all mean "no"
        return None


def _candidates(obj: griffe.Object, target: str) -> list[str]:
    module = obj.module
    package = module.path if module.is_init_module else module.path.rpartition(".")[0]
    if target.startswith("."):
        dots = len(target) - len(target.lstrip("."))
        base = package
        for _ in range(dots - 1):
            base = base.rpartition(".")[0]
        return [f"{base}.{target[dots:]}"]
    scopes = []
    node: Any = obj
    while node is not None and node is not module:  # the object, then its classes
        if node.is_class:
            scopes.append(node.path)
        node = node.parent
    return [*(f"{s}.{target}" for s in scopes), f"{module.path}.{target}", target]


class SphinxRoles(griffe.Extension):
    """Rewrites the Sphinx roles of every docstring in the package (see the module)."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if pkg.path != _PACKAGE:
            return
        self._collection = loader.modules_collection
        self._walk(pkg, set())

    def _walk(self, obj: griffe.Object, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(lambda m: self._link(obj, m), obj.docstring.value)
        for member in obj.members.values():
            if not member.is_alias:
                self._walk(member, seen)  # type: ignore[arg-type]

    def _link(self, obj: griffe.Object, match: re.Match[str]) -> str:
        role, text = match.groups()
        text = text.strip()
        plain = text.startswith("!")
        target = text.lstrip("~!")
        if role in ("func", "meth"):
            target = target.removesuffix("()")
        shown = target.rpartition(".")[2] if text.startswith("~") else target.lstrip(".")
        if role in ("func", "meth"):
            shown += "()"
        code = f"<code>{html.escape(shown)}</code>"
        if plain:
            return code
        for path in _candidates(obj, target):
            found = _find(self._collection, path)
            if found is not None:
                ident = html.escape(path, quote=True)
                return f'<autoref identifier="{ident}" optional>{code}</autoref>'
        if target.startswith(".") or target.startswith(f"{_PACKAGE}."):
            where = obj.docstring.lineno if obj.docstring else None
            _log.warning(
                "%s (%s line %s): :%s:`%s` names nothing in the package",
                obj.path,
                obj.relative_filepath,
                where,
                role,
                text,
            )
        return code
