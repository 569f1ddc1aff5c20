"""The technology table (hwconfigs/tech/technology.yaml): per-operation figures, cells and node scaling.

Every entry is ``{value, unit, source, kind}`` with ``kind`` one of ``measured`` (a published figure),
``derived`` (computed from published figures by a stated rule) or ``assumption`` (ours).
:meth:`TechTable.entries` lists them. :class:`TechPoint` resolves the table at one node: the primitives
(operation energies and areas, standard cells, SRAM banks) at that node. Blocks built from them (MAC
trees, systolic PEs, lanes, the DRE's units) are in ``simulator/engine/physical/area_model.py``.

Scaling (Stillmaker & Baas 2017): logic area x ``area_scale``; energy x E(node, Vdd) / E(base, Vdd_base)
with E(Vdd) = a Vdd^2 + b Vdd + c per node; SRAM arrays by the node's published bitcell area.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from simulator.config.hardware import DRAM_TYPES, PRECISION_BITS
from simulator.config.schema import build, load_yaml, spec
from simulator.errors import ConfigError

DEFAULT_TECH = Path(__file__).resolve().parents[2] / "hwconfigs" / "tech" / "technology.yaml"
KINDS = ("measured", "derived", "assumption")
# nodes the table may hold: the accelerator configs' choices plus older nodes for validation chips
TABLE_NODES = ("65nm", "45nm", "28nm", "16nm", "14nm", "7nm", "samsung8nm")
BASE_KEYS = (
    "int8_add_pj", "int8_add_um2", "int32_add_pj", "int32_add_um2", "int8_mult_pj", "int8_mult_um2",
    "int32_mult_pj", "int32_mult_um2", "fp16_add_pj", "fp16_add_um2", "fp32_add_pj", "fp32_add_um2",
    "fp16_mult_pj", "fp16_mult_um2", "fp32_mult_pj", "fp32_mult_um2", "dff_um2", "xor2_um2", "mux2_um2",
    "fa_um2", "logic_fj_per_um2", "sram_pj_per_bit_8kb", "sram_write_factor", "sram_col_periphery_cells",
    "sram_row_periphery_cells", "sram_bank_control_cells", "sram_column_mux",
    "kvmu_address_bits", "kvmu_generators", "kvmu_queue_entries", "sram_dre_port_bits", "noc_pj_per_bit",
    "vector_lane_registers", "synth_register_per_comb", "synth_clock_per_comb", "synth_datapath_scale",
    "pcie_phy_pj_per_bit", "pcie_phy_mm2_per_lane_gen3", "pcie_phy_area_per_gen",
    "lpddr_phy_mm2_per_x16", "hbm_phy_mm2_per_stack",
)


def precision_bits(precision: str) -> int:
    """Bits of a precision name: the configs' (int4, int8, fp16, bf16) or any ``int<N>`` (validation chips)."""
    if precision in PRECISION_BITS:
        return PRECISION_BITS[precision]
    if precision.startswith("int") and precision[3:].isdigit():
        return int(precision[3:])
    raise ConfigError("technology table", "precision", f"unknown precision {precision!r}")


@dataclass(frozen=True, kw_only=True)
class Entry:
    value: float | dict[str, float] = spec("the figure (or its named parts)")
    unit: str = spec("unit of the value")
    source: str = spec("where the figure comes from")
    kind: str = spec("how it was obtained", choices=KINDS)

    def validate(self, source: str, prefix: str) -> None:
        if not self.source.strip():
            raise ConfigError(source, f"{prefix}.source", "empty; every entry names its source")
        vals = self.value.values() if isinstance(self.value, dict) else (self.value,)
        if not all(math.isfinite(v) for v in vals):
            raise ConfigError(source, f"{prefix}.value", "must be finite")

    def __float__(self) -> float:
        return float(self.value)


@dataclass(frozen=True, kw_only=True)
class NodeTech:
    area_scale: Entry = spec("logic area relative to the base node (S&B 2017)")
    energy_poly: Entry = spec("S&B 2017 energy polynomial coefficients a, b, c")
    vdd: Entry = spec("supply voltage at which the node's energies are given")
    sram_bitcell_um2: Entry = spec("6T SRAM bitcell area")
    leakage_mw_per_mm2: Entry = spec("leakage power density")

    def validate(self, source: str, prefix: str) -> None:
        p = self.energy_poly.value
        if not isinstance(p, dict) or set(p) != {"a", "b", "c"}:
            raise ConfigError(source, f"{prefix}.energy_poly.value", "must be a mapping of a, b, c")
        for name in ("area_scale", "vdd", "sram_bitcell_um2", "leakage_mw_per_mm2"):
            v = getattr(self, name).value
            if isinstance(v, dict) or v < 0 or (name != "leakage_mw_per_mm2" and v == 0):
                raise ConfigError(source, f"{prefix}.{name}.value", f"got {v!r}; must be a number > 0")

    def energy_factor(self, vdd: float | None = None) -> float:
        p = self.energy_poly.value
        v = float(self.vdd.value) if vdd is None else vdd
        return p["a"] * v * v + p["b"] * v + p["c"]


@dataclass(frozen=True, kw_only=True)
class TechTable:
    version: int = spec("table version", ge=1)
    base_node: str = spec("node of the base values")
    base: dict[str, Entry] = spec("base-node values (operations, cells, SRAM and DRE parameters)")
    nodes: dict[str, NodeTech] = spec("per-node scaling")
    dram_pj_per_bit: dict[str, Entry] = spec("DRAM energy per bit by type")

    def validate(self, source: str, prefix: str) -> None:
        for n in self.nodes:
            if n not in TABLE_NODES:
                raise ConfigError(source, f"nodes.{n}", f"unknown node; allowed: {', '.join(TABLE_NODES)}")
        if self.base_node not in self.nodes:
            raise ConfigError(source, "base_node", f"{self.base_node} has no row in nodes")
        missing = [k for k in BASE_KEYS if k not in self.base]
        if missing:
            raise ConfigError(source, "base", f"missing {', '.join(missing)}")
        unknown = [k for k in self.base if k not in BASE_KEYS]
        if unknown:
            raise ConfigError(source, f"base.{unknown[0]}", "unknown entry")
        for k, e in self.base.items():
            if isinstance(e.value, dict) or e.value < 0:
                raise ConfigError(source, f"base.{k}.value", f"got {e.value!r}; must be a number >= 0")
        for d in self.dram_pj_per_bit:
            if d not in DRAM_TYPES:
                raise ConfigError(source, f"dram_pj_per_bit.{d}", f"unknown DRAM; allowed: {', '.join(DRAM_TYPES)}")

    def at(self, node: str, vdd: float | None = None) -> "TechPoint":
        if node not in self.nodes:
            raise ConfigError("technology table", f"nodes.{node}", f"node not in table; have {', '.join(self.nodes)}")
        return TechPoint(self, node, vdd)

    def entries(self) -> list[dict]:
        """Every entry of the table: name (dotted key), value, unit, source, kind."""
        rows = [("base." + k, e) for k, e in self.base.items()]
        for n, nt in self.nodes.items():
            rows += [(f"nodes.{n}.{f}", getattr(nt, f)) for f in
                     ("area_scale", "energy_poly", "vdd", "sram_bitcell_um2", "leakage_mw_per_mm2")]
        rows += [("dram_pj_per_bit." + k, e) for k, e in self.dram_pj_per_bit.items()]
        return [{"name": k, "value": e.value, "unit": e.unit, "source": e.source, "kind": e.kind} for k, e in rows]


@dataclass(frozen=True)
class TechPoint:
    """Primitives of the table at one node (energies in pJ, areas in mm^2, leakage in mW/mm^2).

    ``vdd`` overrides the node's supply (energy follows the S&B polynomial); None = the table's.
    """

    table: TechTable
    node: str
    vdd: float | None = None

    @property
    def _n(self) -> NodeTech:
        return self.table.nodes[self.node]

    def base(self, key: str) -> float:
        return float(self.table.base[key].value)

    @property
    def energy_scale(self) -> float:
        """Dynamic energy at this node and supply relative to the base node at its supply (S&B 2017)."""
        return self._n.energy_factor(self.vdd) / self.table.nodes[self.table.base_node].energy_factor()

    @property
    def logic_area_scale(self) -> float:
        return float(self._n.area_scale.value)

    # ---- primitives at this node ----
    def energy(self, base_pj: float) -> float:
        return base_pj * self.energy_scale

    def logic_mm2(self, base_um2: float) -> float:
        return base_um2 * self.logic_area_scale * 1e-6

    def logic_pj(self, base_um2: float) -> float:
        """Energy of switching ``base_um2`` of 45 nm logic once (registers, shifters, XOR, comparators)."""
        return self.energy(base_um2 * self.base("logic_fj_per_um2") * 1e-3)

    def mult(self, precision: str) -> tuple[float, float]:
        """(pJ, um^2 at the base node) of one multiplier of ``precision``.

        Integer: Horowitz's 8b and 32b multipliers give a power law in the width (area ~ bits^1.82,
        energy ~ bits^1.98). Floating point: FP16 as published; BF16 = FP16 scaled by the integer
        multiplier of its significand (8 bits incl. the hidden one vs FP16's 11).
        """
        if precision in ("fp16", "bf16"):
            pj, um2 = self.base("fp16_mult_pj"), self.base("fp16_mult_um2")
            if precision == "bf16":
                ipj, ium2 = self._int_mult(8)
                jpj, jum2 = self._int_mult(11)
                pj, um2 = pj * ipj / jpj, um2 * ium2 / jum2
            return pj, um2
        return self._int_mult(precision_bits(precision))

    def _int_mult(self, bits: int) -> tuple[float, float]:
        b = self.base
        ea = math.log(b("int32_mult_um2") / b("int8_mult_um2")) / math.log(4)
        ee = math.log(b("int32_mult_pj") / b("int8_mult_pj")) / math.log(4)
        return b("int8_mult_pj") * (bits / 8) ** ee, b("int8_mult_um2") * (bits / 8) ** ea

    def int_add(self, bits: int) -> tuple[float, float]:
        """(pJ, um^2) of a ``bits``-wide integer adder: linear between Horowitz's 8b and 32b adders."""
        b = self.base
        t = (bits - 8) / 24
        return (b("int8_add_pj") + t * (b("int32_add_pj") - b("int8_add_pj")),
                b("int8_add_um2") + t * (b("int32_add_um2") - b("int8_add_um2")))

    def accumulator(self, precision: str) -> tuple[float, float]:
        """(pJ, um^2) of the accumulate adder: FP32 for floating-point inputs, 32-bit (16-bit for int4) integer."""
        if precision in ("fp16", "bf16"):
            return self.base("fp32_add_pj"), self.base("fp32_add_um2")
        return self.int_add(16 if precision_bits(precision) <= 4 else 32)

    def mac_pj(self, precision: str) -> float:
        """Energy of one full MAC (its own multiplier and accumulate adder) at this node."""
        return self.energy(self.mult(precision)[0] + self.accumulator(precision)[0])

    def noc_pj_per_bit(self) -> float:
        return self.energy(self.base("noc_pj_per_bit"))

    # ---- SRAM ----
    def sram_pj_per_bit(self, bank_kb: float, write: bool = False) -> float:
        """Energy per bit of one access to a bank of ``bank_kb`` KiB (sqrt rule, see the table)."""
        e = self.base("sram_pj_per_bit_8kb") * math.sqrt(max(bank_kb, 1.0) / 8.0) * self.energy_scale
        return e * (self.base("sram_write_factor") if write else 1.0)

    def sram_bank_mm2(self, bank_kb: float, width_bits: int = 128, mux: int | None = None) -> float:
        """Area of one SRAM bank (CACTI-style): bitcell array plus column and row periphery plus control.

        ``mux``: columns per port bit (default: the table's ``sram_column_mux``)."""
        bits = bank_kb * 8192
        if bits <= 0:
            return 0.0
        cols = min(bits, width_bits * (mux or self.base("sram_column_mux")))
        rows = bits / cols
        cells = ((rows + self.base("sram_col_periphery_cells")) * (cols + self.base("sram_row_periphery_cells"))
                 + self.base("sram_bank_control_cells"))
        return cells * float(self._n.sram_bitcell_um2.value) * 1e-6

    def sram_mm2(self, kb: float, banks: int = 1, width_bits: int = 128) -> float:
        """Area of ``kb`` KiB split into ``banks`` equal banks of ``width_bits`` ports."""
        return banks * self.sram_bank_mm2(kb / banks, width_bits) if kb > 0 else 0.0

    def leakage_mw_per_mm2(self) -> float:
        return float(self._n.leakage_mw_per_mm2.value)

    def dram_pj_per_bit(self, dram_type: str) -> float:
        try:
            return float(self.table.dram_pj_per_bit[dram_type].value)
        except KeyError:
            raise ConfigError("technology table", f"dram_pj_per_bit.{dram_type}", "DRAM type not in table") from None


def load_tech(path: str | Path = DEFAULT_TECH) -> TechTable:
    return build(TechTable, load_yaml(path), source=str(path))
