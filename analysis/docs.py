"""The README's generated blocks: what is modelled (from the configs and registries), the make targets (from the
Makefile's ``## target: help`` lines) and the layout (from the package tree), so none of them can drift.

    python -m analysis.docs README.md analysis/PAPER.md           # regenerate (make docs)
    python -m analysis.docs --check README.md analysis/PAPER.md   # exit 1 if out of date (tested)
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# what each folder holds (one line each); its modules are listed from the tree
FOLDERS = {
    "simulator/config": "schema layer, hardware, workload/model and technology configs, the generated reference",
    "simulator/models": "plain `torch.nn.Module`s (decoder, vision tower) and the KV cache",
    "simulator/tracer": "region annotations, the `TorchDispatchMode` recorder, op costs, trace events and file I/O",
    "simulator/kvpolicy": "KV-cache policies, one module each, and their registry (`__init__.py`)",
    "simulator/engine": "the platforms (`accelerator.py`, `gpu.py`) as sets of units, one module per unit, the "
                        "memory system, the replay (`replay.py`, `replay_compiled.py`) and `simulate.py`",
    "simulator/results": "metrics per phase and stream, chip blocks, report rendering",
    "simulator": "the stream driver (`stream.py`: workload -> trace), the end-to-end path (`pipeline.py`), the CLI",
    "analysis": "studies and figures built on the pipeline: sweeps, calibration, validation, the paper's evaluation",
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
    from simulator.engine.replay import DEFAULT_ENGINE, REPLAY_ENGINES
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
                 "(`tests/engine/test_replay_compiled.py`).")
    return "\n".join(lines)


def assumptions_markdown() -> str:
    """The technology entries the paper's systems rest on that are not measurements (as ``--json`` lists them)."""
    from analysis.plots import assumptions_table
    from simulator.config.hardware import load_hardware
    from simulator.engine.simulate import build_platform

    used: dict[str, dict] = {}
    for name in PAPER_SYSTEMS:
        hw = load_hardware(ROOT / "hwconfigs" / f"{name}.yaml")
        for a in build_platform(hw).assumptions():
            used.setdefault(a["entry"], {**a, "systems": []})["systems"].append(name)
    return "\n".join(assumptions_table(list(used.values()), used_by="systems"))


def replace_between(text: str, begin: str, end: str, body: str, where: str = "README") -> str:
    """``text`` with everything between the markers ``begin`` and ``end`` replaced by ``body``."""
    if begin not in text or end not in text:
        raise SystemExit(f"{where}: markers {begin} / {end} not found")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def write_between(path, begin: str, end: str, body: str) -> bool:
    """Replace the marked block of the file at ``path`` with ``body``; True if the file changed."""
    p = Path(path)
    text = p.read_text()
    new = replace_between(text, begin, end, body, str(p))
    if new != text:
        p.write_text(new)
        return True
    return False


def block(name: str) -> str:
    return {"status": status_markdown, "targets": targets_markdown, "layout": layout_markdown,
            "assumptions": assumptions_markdown}[name]()


def replace_blocks(text: str) -> str:
    """Regenerate every block whose markers the text holds (at least one)."""
    found = [n for n in BLOCKS if f"<!-- {n}:begin -->" in text and f"<!-- {n}:end -->" in text]
    if not found:
        raise SystemExit(f"no generated-block markers ({', '.join(BLOCKS)}) found")
    for name in found:
        text = replace_between(text, f"<!-- {name}:begin -->", f"<!-- {name}:end -->", block(name))
    return text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", help="Markdown files with generated-block markers")
    ap.add_argument("--check", action="store_true", help="exit 1 if a file is out of date instead of writing")
    a = ap.parse_args(argv)
    stale = []
    for f in a.files:
        path = Path(f)
        text = path.read_text()
        new = replace_blocks(text)
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
