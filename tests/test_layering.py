"""One direction of data: lower packages never import higher ones, and there are no import circles."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# a package may not import these (directly or inside functions)
FORBIDDEN = {
    "simulator.config": ("simulator.tracer", "simulator.engine", "simulator.results", "simulator.models",
                         "simulator.stream", "simulator.pipeline", "simulator.cli", "analysis"),
    "simulator.tracer": ("simulator.engine", "simulator.results", "simulator.models", "simulator.kvpolicy",
                         "simulator.stream", "simulator.pipeline", "simulator.cli", "analysis"),
    "simulator.engine": ("simulator.models", "simulator.kvpolicy", "simulator.stream", "simulator.results",
                         "simulator.pipeline", "simulator.cli", "analysis", "torch"),
    "simulator.kvpolicy": ("simulator.engine", "simulator.results", "simulator.stream", "simulator.pipeline",
                           "simulator.cli", "analysis", "simulator.config.workload"),
    "simulator.results": ("simulator.stream", "simulator.pipeline", "simulator.cli", "analysis"),
    # the stream driver traces a workload: it sits on the tracer, below the engine
    "simulator.stream": ("simulator.engine", "simulator.results", "simulator.pipeline", "simulator.cli", "analysis"),
    # the end-to-end path: everything below it, nothing above
    "simulator.pipeline": ("simulator.cli", "analysis"),
    # studies and figures build on the pipeline; only the command line sits above them
    "analysis": ("simulator.cli",),
}
# simulator.cli is the top: the command line reaches every layer, analysis included.


def _modules():
    for base in ("simulator", "analysis"):
        for p in (ROOT / base).rglob("*.py"):
            name = ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            yield name, p


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


def test_lower_layers_do_not_import_higher_ones():
    bad = []
    for name, path in _modules():
        for pkg, forbidden in FORBIDDEN.items():
            if name == pkg or name.startswith(pkg + "."):
                if name == "simulator.config.reference":  # the README generator documents the policies too
                    continue
                bad += [f"{name} imports {m}" for m in _imports(path) if any(m == f or m.startswith(f + ".")
                                                                              for f in forbidden)]
    assert not bad, bad


def test_no_import_cycles():
    graph = {}
    names = dict(_modules())
    for name, path in names.items():
        graph[name] = {m for m in _imports(path) if m in names and m != name}
    state: dict[str, int] = {}

    def visit(n, stack):
        state[n] = 1
        for m in graph[n]:
            if state.get(m) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(m):] + [m]))
            if m not in state:
                visit(m, stack + [m])
        state[n] = 2

    for n in graph:
        if n not in state:
            visit(n, [n])
