"""The import rule of docs/internals.md: each part of the package imports only the parts below it.

    base (errors, arguments, records, contexts)
    net           base
    builder       base
    store         base
    engine        base, net, builder, store
    runtime       base, engine, store
    audit, auth   base, engine, runtime, store
    api           base, engine, runtime, store, auth, audit
    versioning    base, builder, engine, runtime, api, store
    app           all of the above
    web           base, audit, auth, and the public package (`import tasquencer as tq`)
    cli, demo, testing   anything

Every import counts, also those only for type checkers and those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "tasquencer"
BASE = {"errors", "arguments", "records", "contexts"}
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "arguments": {"errors"},
    "records": {"errors", "arguments"},
    "contexts": {"errors", "records"},
    "net": BASE,
    "builder": BASE,
    "store": BASE,
    "engine": BASE | {"net", "builder", "store"},
    "runtime": BASE | {"engine", "store"},
    "api": BASE | {"engine", "runtime", "store", "auth", "audit"},
    "versioning": BASE | {"builder", "engine", "runtime", "api", "store"},
    "audit": BASE | {"engine", "runtime", "store"},
    "auth": BASE | {"engine", "runtime", "store"},
    "web": BASE | {"audit", "auth"},
}
TOP = {"app", "cli", "demo", "testing", "__init__"}


def part_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imported_parts(path: Path) -> set[str]:
    parts = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            if name.startswith("tasquencer."):
                parts.add(name.split(".")[1])
    return parts


def test_every_part_imports_only_the_parts_below_it():
    broken = []
    for path in sorted(PACKAGE.rglob("*.py")):
        part = part_of(path)
        if part in TOP or "migrations" in path.parts:
            continue
        assert part in ALLOWED, f"{path}: {part!r} has no place in the layers; add it here"
        for imported in imported_parts(path) - {part}:
            if imported in ALLOWED and imported not in ALLOWED[part]:
                broken.append(f"{path.relative_to(PACKAGE)} imports {imported}")
            elif imported in TOP:
                broken.append(f"{path.relative_to(PACKAGE)} imports the top-level {imported}")
    assert broken == []


def test_no_module_reaches_into_another_module_s_private_names():
    reaching = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                private = [a.name for a in node.names if a.name.startswith("_")]
                if private and node.module.startswith("tasquencer"):
                    reaching.append(f"{path.relative_to(PACKAGE)}: {private} from {node.module}")
    assert reaching == []
