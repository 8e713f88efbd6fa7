"""Fail on any cycle among the imports between dashboard's folders.

`python -m tools.folder_cycles` (`--edges` to print every import between folders): every
`import`/`from ... import` in dashboard/ (inside functions too) is read with `ast`; a module
directly in dashboard/ (models.py, urls.py ...) counts as its own node, so a cycle through
models.py shows too.
"""

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dashboard"


def node_of(module):
    """The folder (or top-level module) of a dotted name inside dashboard, else None."""
    parts = module.split(".")
    if parts[0] != "dashboard" or len(parts) < 2:
        return None
    return parts[1]


def edges():
    found = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        relative = path.relative_to(ROOT).with_suffix("")
        source = node_of(".".join(relative.parts))
        for item in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(item, ast.ImportFrom) and item.module and not item.level:
                names = [f"{item.module}.{alias.name}" for alias in item.names]
                targets = [node_of(item.module)] if node_of(item.module) else []
                targets += [node_of(n) for n in names if item.module == "dashboard"]
            elif isinstance(item, ast.Import):
                targets = [node_of(alias.name) for alias in item.names]
            else:
                continue
            for target in targets:
                if target and target != source:
                    found[source].add(target)
    return found


def cycles(graph):
    """Every strongly connected group of more than one node (Tarjan)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in list(graph):
        if node not in index:
            visit(node)
    return groups


def main():
    graph = edges()
    if "--edges" in sys.argv[1:]:
        for source in sorted(graph):
            print(f"{source} -> {', '.join(sorted(graph[source]))}")
    found = cycles(graph)
    for group in found:
        print("cycle:", " <-> ".join(group), file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
