"""No import circles inside veil: every module sits above or below each other, never both.

Imports inside functions count too: a lazy import hides a circle at load time but
keeps the two modules tied (``cli.py`` <-> ``scale/cli.py`` and ``audit/runner.py`` <->
``audit/tracks.py`` were such circles; what they shared now lives below both).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def _modules() -> dict[str, Path]:
    mods = {}
    for f in (SRC / "veil").rglob("*.py"):
        parts = list(f.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = f
    return mods


def import_graph() -> dict[str, set[str]]:
    """Module -> the veil modules it imports anywhere in its text."""
    mods = _modules()
    graph: dict[str, set[str]] = {}
    for name, f in mods.items():
        package = name.split(".") if f.name == "__init__.py" else name.split(".")[:-1]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                mod = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    sub = f"{mod}.{alias.name}"
                    deps.add(sub if sub in mods else mod)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        graph[name] = {d for d in deps if d in mods and d != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_sees_a_lazy_circle():
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_veil_has_no_import_circles():
    graph = import_graph()
    assert "veil.cliargs" in graph["veil.scale.cli"]  # the graph sees relative imports
    assert cycles(graph) == []


def test_cli_does_not_import_the_slow_scipy_parts():
    """``veil --help`` and photo runs must not pay for scipy.optimize, scipy.signal or
    scipy.ndimage (together about 0.5-1 s of start-up on the 2-core machine): only the
    code that needs them imports them, inside the function."""
    import subprocess
    import sys

    code = (
        "import sys, veil.cli\n"
        "print(' '.join(m for m in ('scipy.optimize', 'scipy.signal', 'scipy.ndimage')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []
