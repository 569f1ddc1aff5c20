"""HCU, the hash-bit cluster unit of V-Rex's KVPU (one per core).

``hcu_units`` XOR-accumulators each compute one Hamming distance per cycle between a token's hash
code and a cluster code (XOR, then popcount, then a compare against Th_hd); codes wider than 32
bits take ``ceil(hash_bits / 32)`` cycles. The trace says how many distances ReSV computed
(``hash_compares`` of its ``cluster`` ops); they are spread over all cores' units. The codes of the
recent clusters sit in the DRE SRAM; updated HC-table entries go to DRAM (``bytes_hc_write``).
"""

from __future__ import annotations

import math

import numpy as np

from simulator.config.hardware import DreConfig
from simulator.config.tech import TechPoint
from simulator.engine.ops import OpArrays, UnitCost
from simulator.engine.physical.area_model import hcu_unit
from simulator.engine.platform import Price


class Hcu:
    name = "hcu"
    block = "dre_hcu"  # its name in the area and power breakdown
    kinds = ("cluster",)

    def __init__(self, cfg: DreConfig, clock_hz: float, tech: TechPoint, cores: int):
        self.cfg, self.clock_hz, self.cores = cfg, clock_hz, cores
        self.words = math.ceil(cfg.hash_bits / 32)  # 32-bit XOR-popcount passes per distance
        unit = hcu_unit(tech, cfg.hash_bits)  # XOR + popcount + compare + register (area_model.py)
        self.pj = unit.pj * self.words
        self.area_mm2 = cfg.hcu_units * unit.area_mm2  # per core

    def cost(self, ops: OpArrays, mask: np.ndarray) -> UnitCost:
        compares = np.where(mask, ops["hash_compares"], 0.0)
        cycles = np.ceil(compares * self.words / (self.cfg.hcu_units * self.cores))
        return UnitCost(cycles / self.clock_hz, {"hcu_distance": compares})

    def contract(self) -> dict[str, int]:
        """What the trace's clustering must agree on with this HCU: the code width it compares."""
        return {"hash_bits": self.cfg.hash_bits}

    def peak_actions_per_cycle(self) -> dict[str, float]:
        """Every XOR-accumulator one 32-bit word per cycle (a distance takes ``words`` of them)."""
        return {"hcu_distance": self.cfg.hcu_units / self.words}

    def prices(self) -> dict[str, Price]:
        return {"hcu_distance": Price("dre", self.pj, "base.hcu_xor_energy_pj")}
