"""The package's shape, read from its source (AST, nothing imported): every module under miscomp/ is
used by the package itself (not only by tests or benchmarks), and no two modules import each other,
directly or round a longer circle, lazy (function-level) imports included."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "miscomp"
# Packages whose __init__ imports every submodule so that their @register decorators run
# (miscomp.registry.import_submodules).
REGISTRIES = ("miscomp.codecs", "miscomp.detect")
# What users run: the command line (miscomp.cli is the console script, ``python -m miscomp``) and the
# training library that models/train_compressai.py and models/train_ganlite.py drive.
ENTRY_POINTS = {
    "miscomp",
    "miscomp.__main__",
    "miscomp.cli",
    "miscomp.training.data",
    "miscomp.training.gan",
    "miscomp.training.loop",
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The miscomp modules ``name`` imports anywhere in its source (``from a import b`` names the
    module a.b when it is one, else a)."""
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {  # `if TYPE_CHECKING:` blocks never run
        id(n) for t in ast.walk(tree)
        if isinstance(t, ast.If) and ast.unparse(t.test).endswith("TYPE_CHECKING")
        for b in t.body for n in ast.walk(b)
    }  # fmt: skip
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".")[: len(name.split(".")) - node.level + (1 if is_pkg else 0)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    if name in REGISTRIES:
        found.update(
            m for m in known if m.rsplit(".", 1)[0] == name and not m.rsplit(".", 1)[1].startswith("_")
        )
    return {m for m in found if m in known and m != name}


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(name, path, set(mods)) for name, path in mods.items()}


def test_every_module_is_used_by_the_package():
    graph = _graph()
    imported = set().union(*graph.values())
    # A package's __init__ runs whenever one of its modules is imported.
    parents = {m.rsplit(".", 1)[0] for m in imported | ENTRY_POINTS if "." in m}
    unused = sorted(set(graph) - imported - parents - ENTRY_POINTS)
    assert not unused, f"imported by nothing in miscomp/ (tests or benchmarks only?): {unused}"


def test_no_import_cycle():
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return stack[stack.index(n) :] + [n]
            if n not in state and (cycle := visit(n)):
                return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (cycle := visit(m)):
            raise AssertionError("import cycle: " + " -> ".join(cycle))


def test_the_graph_sees_lazy_and_relative_imports():
    """The scan must find what it is meant to find, or the two tests above pass on an empty graph."""
    graph = _graph()
    assert "miscomp.executors" in graph["miscomp.run"]  # module level
    assert "miscomp.report" in graph["miscomp.run"]  # inside a function
    assert "miscomp.codecs.taef2" in graph["miscomp.codecs"]  # registered by import_submodules
