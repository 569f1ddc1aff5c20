"""One direction of data: lower packages never import higher ones, and there are no import circles."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_ABOVE_ENGINE = ("simulator.models", "simulator.kvpolicy", "simulator.stream", "simulator.results",
                 "simulator.pipeline", "simulator.compare", "simulator.streaming", "simulator.api", "simulator.cli",
                 "analysis", "torch")
_ENGINE = "simulator.engine."
_TOP = ("simulator.compare", "simulator.streaming", "simulator.api")  # beside or above the pipeline
_SIMULATOR = ("simulator.config", "simulator.safe_io", "simulator.tracer", "simulator.models", "simulator.kvpolicy",
              "simulator.engine", "simulator.stream", "simulator.results", "simulator.pipeline", "simulator.compare",
              "simulator.streaming", "simulator.api", "simulator.cli", "analysis")
# a package or module may not import these (directly or inside functions); every sub-package and every top-level
# module of the two trees has its own line (the trees' roots, ``simulator/__init__.py`` and
# ``analysis/__init__.py``, import nothing of the project: test_the_roots_import_nothing)
FORBIDDEN = {
    # the bottom: the error types, then the guarded file writes
    "simulator.errors": _SIMULATOR,
    "simulator.safe_io": ("simulator.config",) + _SIMULATOR[2:],
    # config is the bottom of the model: it reads YAML into typed records (the KV policies' parameters included)
    "simulator.config": _SIMULATOR[1:],
    "simulator.tracer": ("simulator.engine", "simulator.results", "simulator.models", "simulator.kvpolicy",
                         "simulator.stream", "simulator.pipeline", "simulator.cli", "analysis") + _TOP,
    "simulator.models": ("simulator.engine", "simulator.results", "simulator.kvpolicy", "simulator.stream",
                         "simulator.pipeline", "simulator.cli", "analysis") + _TOP,
    "simulator.engine": _ABOVE_ENGINE,
    # inside the engine: physical < memory < units < platforms < simulate; replay stands apart from the units
    "simulator.engine.physical": tuple(_ENGINE + m for m in ("memory", "units", "platforms", "replay",
                                                             "simulate")),
    "simulator.engine.memory": tuple(_ENGINE + m for m in ("units", "platforms", "replay", "simulate")),
    "simulator.engine.units": tuple(_ENGINE + m for m in ("platforms", "replay", "simulate")),
    "simulator.engine.replay": tuple(_ENGINE + m for m in ("physical", "memory", "units", "platforms",
                                                           "simulate", "platform")),
    "simulator.engine.platforms": (_ENGINE + "simulate",),
    "simulator.kvpolicy": ("simulator.engine", "simulator.results", "simulator.stream", "simulator.pipeline",
                           "simulator.cli", "analysis", "simulator.config.workload") + _TOP,
    "simulator.results": ("simulator.stream", "simulator.pipeline", "simulator.cli", "analysis") + _TOP,
    # the stream driver: workload -> trace (the tracer, the models and the KV policies)
    "simulator.stream": ("simulator.engine", "simulator.results", "simulator.pipeline", "simulator.compare",
                         "simulator.streaming", "simulator.api", "simulator.cli", "analysis"),
    # the end-to-end path: everything below it, nothing above
    "simulator.pipeline": ("simulator.cli", "simulator.api", "analysis"),
    "simulator.compare": ("simulator.cli", "simulator.api", "analysis"),
    "simulator.streaming": ("simulator.cli", "simulator.api", "simulator.pipeline", "analysis"),
    # studies and figures build on the pipeline; only the command line and the Python API sit above them
    "analysis": ("simulator.cli", "simulator.api"),
    # the top: the Python API (it runs sweeps of analysis.studies) beside the command line, neither imports the other
    "simulator.api": ("simulator.cli",),
    "simulator.cli": ("simulator.api",),
    # inside analysis: the figure toolkit (report.figures, report.markdown) < calibrate, validate, studies <
    # report (plots and reports of saved runs and sweeps) < paper < devtools
    # measurement data and their loader: the bottom of analysis
    "analysis.data": ("analysis.calibrate", "analysis.validate", "analysis.studies", "analysis.report",
                      "analysis.paper", "analysis.devtools"),
    "analysis.calibrate": ("analysis.validate", "analysis.studies", "analysis.paper", "analysis.devtools",
                           "analysis.report.plots", "analysis.report.artefacts"),
    "analysis.validate": ("analysis.calibrate", "analysis.studies", "analysis.paper", "analysis.devtools",
                          "analysis.report.plots", "analysis.report.artefacts"),
    "analysis.studies": ("analysis.calibrate", "analysis.validate", "analysis.paper", "analysis.devtools",
                         "analysis.report.plots", "analysis.report.artefacts"),
    "analysis.report": ("analysis.calibrate", "analysis.validate", "analysis.paper", "analysis.devtools"),
    "analysis.paper": ("analysis.calibrate", "analysis.validate", "analysis.devtools"),
    # the top of analysis (benchmarks, generated docs): every analysis layer below it, the command line above
    "analysis.devtools": ("simulator.cli", "simulator.api"),
}


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
                bad += [f"{name} imports {m}" for m in _imports(path) if any(m == f or m.startswith(f + ".")
                                                                              for f in forbidden)]
    assert not bad, bad


def test_every_package_has_rules():
    """A new sub-package or top-level module states what it may not import (a line in FORBIDDEN), so the layering
    covers it; no exceptions."""
    roots = {"simulator", "analysis"}
    packages = {".".join(p.parent.relative_to(ROOT).parts) for base in roots
                for p in (ROOT / base).rglob("__init__.py")}
    top_modules = {f"{base}.{p.stem}" for base in roots for p in (ROOT / base).glob("*.py") if p.stem != "__init__"}
    assert sorted((packages | top_modules) - roots - set(FORBIDDEN)) == []
    assert set(FORBIDDEN) <= packages | top_modules, "a rule for a package or module that does not exist"


def test_the_roots_import_nothing():
    """The two trees' roots are their faces (a docstring, a version): they import nothing of the project, so no
    rule is needed for them."""
    for base in ("simulator", "analysis"):
        imports = _imports(ROOT / base / "__init__.py")
        assert not [m for m in imports if m.split(".")[0] in ("simulator", "analysis")], (base, imports)


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
