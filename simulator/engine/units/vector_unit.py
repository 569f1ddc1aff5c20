"""Vector engine (VPE) of one core: softmax, norms, elementwise ops; also the fallback for the DRE.

Peak: ``lanes x ops_per_lane_per_cycle`` element ops per cycle; each lane is a fused multiply-add,
so it counts 2 FLOPs per cycle in the peak FLOP/s (V-Rex's per-core peak includes the VPE this way).
Work is divided evenly over the cores (see multicore.py).
"""

from __future__ import annotations

import numpy as np

from simulator.config.hardware import VectorUnitConfig
from simulator.config.tech import TechPoint
from simulator.engine.ops import DRE_KINDS, VECTOR_KINDS, OpArrays, UnitCost
from simulator.engine.physical.area_model import vector_lane
from simulator.engine.platform import Price

# Element ops of ReSV's retrieval steps when no DRE is present (the DRE-disabled ablation):
# one Hamming distance = XOR, popcount and compare on a lane; WiCSum on a vector unit sorts each
# row (log2(C) compare-exchange passes over C scores) and then multiplies, accumulates and compares.
HAMMING_OPS = 3
WICSUM_OPS_PER_SCORE = 3


class VectorUnit:
    def __init__(self, cfg: VectorUnitConfig, clock_hz: float, tech: TechPoint, cores: int = 1,
                 precision: str = "bf16"):
        self.cfg = cfg
        self.clock_hz = clock_hz
        self.cores = cores
        self.ops_per_cycle = cfg.lanes * cfg.ops_per_lane_per_cycle  # per core
        self.peak_ops = self.ops_per_cycle * clock_hz * cores  # whole chip
        self.peak_flops = 2.0 * cfg.lanes * clock_hz  # per core (FMA lanes)
        lane = vector_lane(tech, precision)  # FMA-class lane at the matrix precision (area_model.py)
        self.op_pj = lane.pj
        self.area_mm2 = cfg.lanes * lane.area_mm2  # per core

    def cycles(self, element_ops) -> np.ndarray:
        """Cycles of ``element_ops`` spread over all cores' lanes."""
        return np.ceil(np.asarray(element_ops, dtype=np.float64) / (self.ops_per_cycle * self.cores))

    @staticmethod
    def retrieval_element_ops(kind: np.ndarray, hash_compares: np.ndarray, m: np.ndarray,
                              candidates: np.ndarray) -> np.ndarray:
        """Element ops of clustering and WiCSum selection when they run here instead of on the DRE."""
        c = np.asarray(candidates, dtype=np.float64)
        sort = c * np.ceil(np.log2(np.maximum(c, 2.0)))
        wicsum = np.maximum(np.asarray(m, dtype=np.float64), 1.0) * (sort + WICSUM_OPS_PER_SCORE * c)
        return np.where(kind == "cluster", HAMMING_OPS * hash_compares, 0.0) + np.where(kind == "wicsum", wicsum, 0.0)


class Vpe(VectorUnit):
    """The vector unit as a unit of the accelerator: element-wise kinds, and ReSV's retrieval steps where no
    DRE unit claims them. An op cannot stream its activations faster than the activation buffers' ports
    (``port_bytes_per_cycle``, all cores) allow."""

    name = "vpe"
    kinds = VECTOR_KINDS + DRE_KINDS

    def __init__(self, cfg: VectorUnitConfig, clock_hz: float, tech: TechPoint, cores: int,
                 port_bytes_per_cycle: float, precision: str = "bf16"):
        super().__init__(cfg, clock_hz, tech, cores, precision)
        self.port_bytes_per_cycle = port_bytes_per_cycle

    def cost(self, ops: OpArrays, mask: np.ndarray) -> UnitCost:
        fallback = np.where(mask, self.retrieval_element_ops(ops.kind, ops["hash_compares"], ops["m"],
                                                             ops["candidates"]), 0.0)
        vec_ops = np.where(mask, ops["flops_vector"], 0.0) + fallback
        a_r, a_w = ops["bytes_act_read"], ops["bytes_act_write"]
        cyc = np.where(mask, np.maximum(self.cycles(vec_ops), np.ceil((a_r + a_w) / self.port_bytes_per_cycle)), 0.0)
        return UnitCost(cyc / self.clock_hz, {"vector_op": vec_ops,
                                               "sram_read_bit.activation": np.where(mask, a_r * 8, 0.0),
                                               "sram_write_bit.activation": np.where(mask, a_w * 8, 0.0)})

    def peak_actions_per_cycle(self) -> dict[str, float]:
        """Every lane's element ops every cycle."""
        return {"vector_op": float(self.ops_per_cycle)}

    def prices(self) -> dict[str, Price]:
        return {"vector_op": Price("vpe", self.op_pj, "base.vector_op_energy_pj")}
