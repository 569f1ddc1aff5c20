"""The technology table (hwconfigs/tech/technology.yaml): energies and areas by node, with sources.

:class:`TechPoint` resolves the table at one node: every value in pJ, um^2, mm^2 or mW at that node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from simulator.config.hardware import DRAM_TYPES, PRECISIONS, TECH_NODES
from simulator.config.schema import build, load_yaml, spec
from simulator.errors import ConfigError

DEFAULT_TECH = Path(__file__).resolve().parents[2] / "hwconfigs" / "tech" / "technology.yaml"


@dataclass(frozen=True, kw_only=True)
class BaseTech:
    mac_energy_pj: dict[str, float] = spec("energy per MAC by precision", unit="pJ")
    mac_area_um2: dict[str, float] = spec("area per MAC by precision", unit="um^2")
    pe_overhead: float = spec("PE register/wiring share of MAC area", ge=0)
    vector_op_energy_pj: float = spec("vector element op", unit="pJ", gt=0)
    vector_lane_area_um2: float = spec("vector lane", unit="um^2", gt=0)
    hcu_xor_energy_pj: float = spec("HCU: one Hamming distance (XOR + popcount + compare) of 32-bit codes",
                                    unit="pJ", gt=0)
    hcu_unit_area_um2: float = spec("HCU XOR-accumulator", unit="um^2", gt=0)
    wtu_score_energy_pj: float = spec("WTU: one score binned, weighted by its token count and accumulated",
                                      unit="pJ", gt=0)
    wtu_lane_area_um2: float = spec("WTU lane (bucket compare, multiplier, adder-tree input)", unit="um^2", gt=0)
    kvmu_area_um2: float = spec("KVMU address generator and request queue, per core", unit="um^2", gt=0)
    noc_pj_per_bit: float = spec("on-chip interconnect energy per bit moved between cores", unit="pJ/bit", gt=0)
    sram_pj_per_bit_8kb: float = spec("SRAM read energy per bit of an 8 KiB bank", unit="pJ/bit", gt=0)
    sram_write_factor: float = spec("write/read energy ratio", gt=0)
    sram_bank_periphery_kb: float = spec("per-bank periphery area, in KiB of macro", unit="KiB", ge=0)

    def validate(self, source: str, prefix: str) -> None:
        for table in ("mac_energy_pj", "mac_area_um2"):
            missing = [p for p in PRECISIONS if p not in getattr(self, table)]
            if missing:
                raise ConfigError(source, f"{prefix}.{table}", f"missing precisions {', '.join(missing)}")


@dataclass(frozen=True, kw_only=True)
class NodeTech:
    energy_scale: float = spec("dynamic energy relative to the base node", gt=0)
    logic_area_scale: float = spec("logic area relative to the base node", gt=0)
    sram_mm2_per_kb: float = spec("SRAM macro area per KiB", unit="mm^2", gt=0)
    leakage_mw_per_mm2: float = spec("leakage power density", unit="mW/mm^2", ge=0)


@dataclass(frozen=True, kw_only=True)
class TechTable:
    version: int = spec("table version", ge=1)
    base_node: str = spec("node of the base values")
    base: BaseTech = spec("base-node values")
    nodes: dict[str, NodeTech] = spec("per-node scaling")
    dram_pj_per_bit: dict[str, float] = spec("DRAM energy per bit by type", unit="pJ/bit")

    def validate(self, source: str, prefix: str) -> None:
        for n in self.nodes:
            if n not in TECH_NODES:
                raise ConfigError(source, f"nodes.{n}", f"unknown node; allowed: {', '.join(TECH_NODES)}")
        for d in self.dram_pj_per_bit:
            if d not in DRAM_TYPES:
                raise ConfigError(source, f"dram_pj_per_bit.{d}", f"unknown DRAM; allowed: {', '.join(DRAM_TYPES)}")

    def at(self, node: str) -> "TechPoint":
        if node not in self.nodes:
            raise ConfigError("technology table", f"nodes.{node}", f"node not in table; have {', '.join(self.nodes)}")
        return TechPoint(self, node)


@dataclass(frozen=True)
class TechPoint:
    """Values of the table at one node (energies in pJ, areas in mm^2, leakage in mW/mm^2)."""

    table: TechTable
    node: str

    @property
    def _n(self) -> NodeTech:
        return self.table.nodes[self.node]

    def mac_pj(self, precision: str) -> float:
        return self.table.base.mac_energy_pj[precision] * self._n.energy_scale

    def mac_mm2(self, precision: str) -> float:
        b = self.table.base
        return b.mac_area_um2[precision] * (1 + b.pe_overhead) * self._n.logic_area_scale * 1e-6

    def vector_op_pj(self) -> float:
        return self.table.base.vector_op_energy_pj * self._n.energy_scale

    def vector_lane_mm2(self) -> float:
        return self.table.base.vector_lane_area_um2 * self._n.logic_area_scale * 1e-6

    def _energy(self, base_pj: float) -> float:
        return base_pj * self._n.energy_scale

    def _logic_mm2(self, base_um2: float) -> float:
        return base_um2 * self._n.logic_area_scale * 1e-6

    def hcu_xor_pj(self) -> float:
        return self._energy(self.table.base.hcu_xor_energy_pj)

    def hcu_unit_mm2(self) -> float:
        return self._logic_mm2(self.table.base.hcu_unit_area_um2)

    def wtu_score_pj(self) -> float:
        return self._energy(self.table.base.wtu_score_energy_pj)

    def wtu_lane_mm2(self) -> float:
        return self._logic_mm2(self.table.base.wtu_lane_area_um2)

    def kvmu_mm2(self) -> float:
        return self._logic_mm2(self.table.base.kvmu_area_um2)

    def noc_pj_per_bit(self) -> float:
        return self._energy(self.table.base.noc_pj_per_bit)

    def sram_pj_per_bit(self, bank_kb: float, write: bool = False) -> float:
        """Energy per bit of one access to a bank of ``bank_kb`` KiB (sqrt rule, see the table)."""
        b = self.table.base
        e = b.sram_pj_per_bit_8kb * math.sqrt(max(bank_kb, 1.0) / 8.0) * self._n.energy_scale
        return e * (b.sram_write_factor if write else 1.0)

    def sram_mm2(self, kb: float, banks: int = 1) -> float:
        """Area of ``kb`` KiB split into ``banks`` macros (each adds its periphery)."""
        return (kb + banks * self.table.base.sram_bank_periphery_kb) * self._n.sram_mm2_per_kb

    def leakage_mw_per_mm2(self) -> float:
        return self._n.leakage_mw_per_mm2

    def dram_pj_per_bit(self, dram_type: str) -> float:
        try:
            return self.table.dram_pj_per_bit[dram_type]
        except KeyError:
            raise ConfigError("technology table", f"dram_pj_per_bit.{dram_type}", "DRAM type not in table") from None


def load_tech(path: str | Path = DEFAULT_TECH) -> TechTable:
    return build(TechTable, load_yaml(path), source=str(path))
