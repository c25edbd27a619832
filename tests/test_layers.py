"""The package's rooms stand on floors, and no room imports one on a higher floor.

Read from the source (every ``import`` statement, ``TYPE_CHECKING`` and function-level
ones included), not from ``sys.modules``: a lazy import is still a dependency.  Old import
paths kept alive by :mod:`beluga_voice._moved` resolve names through ``importlib`` at
attribute access, so they are not arrows.  Rooms on one floor may use each other.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "beluga_voice"

FLOORS: list[set[str]] = [
    # ground: shared pieces with no dependency on any room above
    {
        "frames",
        "audio",
        "conversation",
        "secrets",
        "errors",
        "tls",
        "wire",
        "services",
        "local",
        "_moved",
    },
    {"observability"},  # telemetry primitives every room may use
    {"stt", "tts", "agents"},  # engines
    {"providers", "pipeline"},  # S2S services; the frame engine
    {"processors"},  # pipeline processors around engines and providers
    {"transports"},
    {"session"},  # VoiceSession: the composed conversation
    {"testing"},  # fakes and harnesses built on everything above
    {"cli", "__init__", "__main__", "<package>"},
]
FLOOR = {room: n for n, rooms in enumerate(FLOORS) for room in rooms}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<package>"


def _imported(package: list[str], node: ast.AST) -> list[str]:
    """The absolute module names an import statement in ``package`` reads."""
    if isinstance(node, ast.ImportFrom):
        if not node.level:
            return [node.module or ""]
        base = package[: len(package) - node.level + 1]
        return [".".join(base + ([node.module] if node.module else []))]
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    return []


def _arrows() -> dict[tuple[str, str], list[str]]:
    arrows: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        package = parts[:-1]
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for target in _imported(package, node):
                if target.split(".")[0] == "beluga_voice":
                    a, b = _room(module), _room(target)
                    if a != b:
                        arrows[(a, b)].append(str(path.relative_to(PACKAGE)))
    return arrows


def test_every_room_has_a_floor() -> None:
    rooms = {p.stem for p in PACKAGE.glob("*.py")} | {
        p.parent.name for p in PACKAGE.glob("*/__init__.py")
    }
    missing = {r for r in rooms if r not in FLOOR}
    assert not missing, f"place these rooms on a floor in FLOORS: {sorted(missing)}"


def test_no_room_imports_a_higher_floor() -> None:
    upward = {
        f"{a} -> {b}": sorted(set(files))
        for (a, b), files in _arrows().items()
        if FLOOR[a] < FLOOR[b]
    }
    assert not upward, f"imports from a lower room to a higher one: {upward}"


def test_relative_imports_are_resolved_to_their_room() -> None:
    """``from ..providers.errors import x`` in ``beluga_voice/stt/`` is an arrow to providers."""
    node = ast.parse("from ..providers.errors import S2SError").body[0]
    assert _imported(["beluga_voice", "stt"], node) == ["beluga_voice.providers.errors"]
    node = ast.parse("from . import base").body[0]
    assert _imported(["beluga_voice", "stt"], node) == ["beluga_voice.stt"]
