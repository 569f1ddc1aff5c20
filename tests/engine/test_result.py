"""One energy naming scheme: ``e_<part>_pj`` per op (pJ), ``energy_<part>_j`` per phase (J), built and parsed only
by the helpers of simulator/engine/result.py."""

from __future__ import annotations

import ast
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from simulator.engine.result import (
    ENERGY_PARTS,
    OP_ENERGY,
    PHASE_ENERGY,
    op_energy_col,
    op_energy_parts,
    phase_energy_col,
    phase_energy_parts,
)

ROOT = Path(__file__).resolve().parents[2]
PART = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789", min_size=1, max_size=12)


@given(st.lists(PART, max_size=6, unique=True))
def test_names_round_trip(parts):
    other = ["latency_s", "energy_j", "end_s", "dram_bytes"]  # the run total energy_j has no part
    assert op_energy_parts(other + [op_energy_col(p) for p in parts]) == parts
    assert phase_energy_parts(other + [phase_energy_col(p) for p in parts]) == parts
    assert all(op_energy_col(p).endswith("_pj") and phase_energy_col(p).endswith("_j") for p in parts)


def test_the_named_parts_follow_the_scheme():
    assert op_energy_col("dpe") == "e_dpe_pj" and phase_energy_col("leakage") == "energy_leakage_j"
    assert op_energy_parts([op_energy_col(p) for p in ENERGY_PARTS]) == list(ENERGY_PARTS)


def test_no_code_builds_or_parses_energy_names_by_hand():
    """An f-string starting with an energy prefix or a ``startswith`` of one, outside result.py, is a second
    scheme in the making: use the helpers."""
    prefixes = {OP_ENERGY[0], PHASE_ENERGY[0]}
    bad = []
    for base in ("simulator", "analysis"):
        for path in (ROOT / base).rglob("*.py"):
            if path == ROOT / "simulator" / "engine" / "result.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant) \
                        and str(node.values[0].value) in prefixes:
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: f-string")
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                        and node.func.attr == "startswith" and node.args and isinstance(node.args[0], ast.Constant) \
                        and node.args[0].value in prefixes:
                    bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: startswith")
    assert not bad, bad
