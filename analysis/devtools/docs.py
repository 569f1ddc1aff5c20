"""The README's generated blocks: what is modelled (from the configs and registries), the make targets (from the
Makefile's ``## target: help`` lines) and the layout (from the package tree), so none of them can drift.

    python -m analysis.devtools.docs README.md analysis/PAPER.md           # regenerate (make docs)
    python -m analysis.devtools.docs --check README.md analysis/PAPER.md   # exit 1 if out of date (tested)

PAPER.md's ``paper-*`` blocks come from the last ``make paper`` run's ``results/paper/results.csv``
(``analysis/paper/paper_md.py``; ``--paper-results`` to read another run's); without that file they are kept as
they are, with a note.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from analysis.report.markdown import replace_between

ROOT = Path(__file__).resolve().parents[2]

# what each folder holds (one line each); its modules are listed from the tree
FOLDERS = {
    "simulator/config": "schema layer, hardware, workload/model and technology configs, the KV policies' typed "
                        "parameters and their registry (`policies.py`), the generated reference",
    "simulator/models": "plain `torch.nn.Module`s (decoder, vision tower) and the KV cache",
    "simulator/tracer": "region annotations, the `TorchDispatchMode` recorder, op costs, trace events and file I/O",
    "simulator/kvpolicy": "KV-cache policies' behaviour, one module each extending its parameters' record "
                          "(`config/policies.py`), and their registry (`__init__.py`)",
    "simulator/engine": "the unit and platform interfaces and pricing (`platform.py`), the op arrays (`ops.py`), "
                        "one simulation path (`simulate.py`) and its result (`result.py`)",
    "simulator/engine/units": "one module per hardware unit: DPE, VPE, HCU, WTU, KVMU; GPU tensor cores, CUDA "
                              "cores, copy engine",
    "simulator/engine/memory": "SRAM, DRAM, the KV capacity model, the offload tier and its measured link and SSD",
    "simulator/engine/physical": "area and peak power from the technology table",
    "simulator/engine/platforms": "the accelerator and the GPU as sets of units",
    "simulator/engine/replay": "dependencies, the per-trace plan, the SimPy reference, the compiled, chunked and "
                               "arrival-driven replays",
    "simulator/results": "metrics per phase and stream, chip blocks, report rendering",
    "simulator": "the stream driver (`stream.py`: workload -> trace), the end-to-end path (`pipeline.py`), the CLI",
    "analysis/calibrate": "sub-models fitted on published measurements, with held-out checks (`make calibrate`)",
    "analysis/validate": "against SCALE-Sim and published chips (`make validate-scalesim`, `make validate-area`)",
    "analysis/studies": "sweeps, design-space exploration, global sensitivity, policy comparisons; the point store "
                        "they share with the paper",
    "analysis/paper": ("the paper's evaluation figure by figure (`make paper`), its plots, run-to-run differences, "
                       "the speedup ladder and capacity maps"),
    "analysis/report": "figures and reports from saved runs and sweeps; generated Markdown blocks",
    "analysis/devtools": "benchmarks (`make bench`), replay speed, the generated docs (`make docs`)",
    "analysis/data": "published measurements the calibrations and validations read, with their sources; their "
                     "typed loader (`__init__.py`)",
    "hwconfigs": "accelerator and GPU configs; `tech/technology.yaml`, the price and area table",
    "workloads": "workloads, `models/` and the policy suite",
    "traces": "generated traces (git-ignored); `README.md` documents the format",
    "tests": "mirrors the package",
}
BLOCKS = ("status", "targets", "layout", "assumptions")
PAPER_SYSTEMS = ("vrex8-edge", "vrex48-server", "orin-agx-32gb", "a100-80gb", "oaken")


def _modules(folder: Path) -> list[str]:
    if folder.name == "tests":
        return sorted(p.name + "/" for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
    if folder.name in ("hwconfigs", "workloads"):
        return sorted(p.name for p in folder.glob("*.yaml"))
    if folder.name == "traces":
        return []
    if folder.name == "data":
        return sorted(p.name for p in folder.iterdir() if p.is_file())
    return sorted(p.name for p in folder.glob("*.py") if p.name != "__init__.py")


def layout_markdown() -> str:
    rows = ["| path | what it holds | files |", "|---|---|---|"]
    for folder, what in FOLDERS.items():
        files = ", ".join(f"`{m}`" for m in _modules(ROOT / folder))
        rows.append(f"| `{folder}/` | {what} | {files} |")
    return "\n".join(rows) + "\n\nData flows one way: workloads -> tracer -> trace file -> engine -> results -> " \
                             "analysis; the CLI sits on top (`tests/test_layering.py` checks it)."


def make_targets(makefile: Path = ROOT / "Makefile") -> list[tuple[str, str]]:
    """(target, help) of every ``## target: help`` line of the Makefile, in order."""
    out = []
    for line in makefile.read_text().splitlines():
        m = re.match(r"^## ([\w-]+): (.+)$", line)
        if m:
            out.append((m.group(1), m.group(2)))
    return out


def targets_markdown() -> str:
    rows = ["| target | what it does |", "|---|---|"]
    rows += [f"| `make {t}` | {h} |" for t, h in make_targets()]
    return "\n".join(rows)


def _yaml_summary(path: Path) -> tuple[str, str]:
    """(kind, first sentence of the file's header comment) of a config file."""
    from simulator.config.schema import load_yaml

    header = []
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        header.append(line.lstrip("# ").strip())
    text = " ".join(header)
    first = re.split(r"(?<=[a-z0-9)])\. ", text, maxsplit=1)[0].rstrip(".")
    return str(load_yaml(path).get("kind", "")), first


def status_markdown() -> str:
    """What is modelled: every shipped platform config, every KV policy with its summary, the replay engines."""
    from simulator.engine.replay.discrete_event import DEFAULT_ENGINE, REPLAY_ENGINES
    from simulator.kvpolicy import POLICIES

    lines = ["**Platforms** (`hwconfigs/`):"]
    for p in sorted((ROOT / "hwconfigs").glob("*.yaml")):
        kind, summary = _yaml_summary(p)
        lines.append(f"- `{p.name}` ({kind}): {summary}")
    lines.append("")
    lines.append("**KV policies** (`kv_policy.name`):")
    for name, cls in POLICIES.items():
        lines.append(f"- `{name}`: {cls.summary}")
    lines.append("")
    engines = ", ".join(f"`{e}`" + (" (default)" if e == DEFAULT_ENGINE else "") for e in REPLAY_ENGINES)
    lines.append(f"**Replay engines** (`--engine`): {engines}; they give the same times "
                 "(`tests/engine/replay/test_replay_compiled.py`).")
    return "\n".join(lines)


def assumptions_markdown() -> str:
    """The technology entries the paper's systems rest on that are not measurements (as ``--json`` lists them)."""
    from analysis.report.plots import assumptions_table
    from simulator.config.hardware import load_hardware
    from simulator.engine.simulate import build_platform

    used: dict[str, dict] = {}
    for name in PAPER_SYSTEMS:
        hw = load_hardware(ROOT / "hwconfigs" / f"{name}.yaml")
        for a in build_platform(hw).assumptions():
            used.setdefault(a["entry"], {**a, "systems": []})["systems"].append(name)
    return "\n".join(assumptions_table(list(used.values()), used_by="systems"))


def block(name: str) -> str:
    return {"status": status_markdown, "targets": targets_markdown, "layout": layout_markdown,
            "assumptions": assumptions_markdown}[name]()


def replace_blocks(text: str, paper_results: Path | None = None) -> str:
    """Regenerate every block whose markers the text holds (at least one); the paper run's blocks from
    ``paper_results`` (default ``results/paper/results.csv``), kept as they are when that file is absent."""
    from analysis.paper import paper_md

    names = BLOCKS + paper_md.BLOCKS
    found = [n for n in names if f"<!-- {n}:begin -->" in text and f"<!-- {n}:end -->" in text]
    if not found:
        raise SystemExit(f"no generated-block markers ({', '.join(names)}) found")
    results = paper_results or ROOT / paper_md.RESULTS
    for name in found:
        if name in paper_md.BLOCKS:
            if not results.is_file():
                if paper_results is not None:
                    raise SystemExit(f"vrex: error: --paper-results: {results} not found (run make paper)")
                print(f"note: {name} kept as it is: {results} not found (make paper writes it)", file=sys.stderr)
                continue
            body = paper_md.block(name, results)
        else:
            body = block(name)
        text = replace_between(text, f"<!-- {name}:begin -->", f"<!-- {name}:end -->", body)
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", help="Markdown files with generated-block markers")
    ap.add_argument("--check", action="store_true", help="exit 1 if a file is out of date instead of writing")
    ap.add_argument("--paper-results", type=Path, default=None,
                    help="the paper run's results.csv for PAPER.md's paper-* blocks "
                         "(default results/paper/results.csv)")
    a = ap.parse_args(argv)
    stale = []
    for f in a.files:
        path = Path(f)
        text = path.read_text()
        new = replace_blocks(text, a.paper_results)
        if new != text:
            if a.check:
                stale.append(str(path))
            else:
                path.write_text(new)
    if stale:
        print(f"generated blocks out of date in {', '.join(stale)}; run 'make docs'", file=sys.stderr)
        return 1
    return 0


def makefile_help() -> str:
    """``make help``: the targets and what they do."""
    return "\n".join(f"  make {t:<18} {h}" for t, h in make_targets())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--help-targets":
        print(makefile_help())
        raise SystemExit(0)
    raise SystemExit(main())
