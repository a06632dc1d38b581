"""Code metrics of issue 12: import cycles among raynn's modules, its 10 longest functions, and the lines of
``raynn/tune`` (the Ray adapters) against ``raynn/hpo`` (the pure cores). Reads the source with ``ast``;
imports nothing of raynn, so it measures any checkout (an older one: ``git worktree add /tmp/old REV``).

    python scripts/code_metrics.py [ROOT]      # ROOT: a raynn checkout (default: this one)

An import cycle is a strongly connected component of more than one module in the graph of imports (lazy
imports inside functions included: they still tie the modules together).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def modules(root: Path) -> dict[str, Path]:
    """``raynn.x.y`` -> its file, for every module of the package under ``root``."""
    found = {}
    for path in (root / "raynn").rglob("*.py"):
        name = ".".join(path.relative_to(root).with_suffix("").parts)
        found[name.removesuffix(".__init__")] = path
    return found


def _known(name: str, mods: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is one of raynn's modules."""
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def graph(root: Path, mods: dict[str, Path]) -> tuple[dict[str, set[str]], list[tuple[int, str]]]:
    """Each module's imports of other raynn modules, and every function as (lines, place)."""
    edges: dict[str, set[str]] = {m: set() for m in mods}
    functions = []
    for module, path in mods.items():
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        place = path.relative_to(root)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [_known(alias.name, mods) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package[: len(package) - node.level + 1] + ([node.module] if node.module else [])
                    base = ".".join(parts)
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else _known(base, mods)
                           for a in node.names]
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.append((node.end_lineno - node.lineno + 1, f"{place}:{node.lineno} {node.name}"))
                continue
            else:
                continue
            edges[module].update(t for t in targets if t and t != module)
    return edges, functions


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start, targets in edges.items():
        if start in index:
            continue
        work = [(start, iter(sorted(targets)))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(edges[succ]))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent
    mods = modules(root)
    edges, functions = graph(root, mods)
    found = cycles(edges)
    print(f"modules: {len(mods)}")
    print(f"import cycles (strongly connected components > 1 module): {len(found)} {[len(c) for c in found]}")
    for component in found:
        print("  ", " ".join(component))
    print("10 longest functions:")
    for lines, place in sorted(functions, reverse=True)[:10]:
        print(f"  {lines:4d} {place}")

    def lines_of(package: str) -> int:
        return sum(len(p.read_text().splitlines()) for p in (root / "raynn" / package).rglob("*.py"))

    print(f"lines raynn/tune: {lines_of('tune')}  raynn/hpo: {lines_of('hpo')}")


if __name__ == "__main__":
    main()
