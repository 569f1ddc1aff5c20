"""A GPU's CUDA cores: element-wise kernels, top-k, KV copies within device memory, and ReSV's clustering
and WiCSum in software (element ops as on a vector unit), at the achieved fraction of the FP32 peak."""

from __future__ import annotations

import numpy as np

from simulator.config.hardware import GpuConfig
from simulator.engine.ops import DRE_KINDS, TRANSFER_KINDS, VECTOR_KINDS, OpArrays, UnitCost
from simulator.engine.platform import Price
from simulator.engine.units.vector_unit import VectorUnit


class CudaCores:
    name = "cuda"
    kinds = VECTOR_KINDS + DRE_KINDS + TRANSFER_KINDS
    area_mm2 = 0.0  # the GPU's area is its die's (``die_area_mm2``)

    def __init__(self, hw: GpuConfig):
        self.hw = hw
        self.flops = hw.fp32_tflops * 1e12 * hw.stack.vector

    def cost(self, ops: OpArrays, mask: np.ndarray) -> UnitCost:
        fv = ops["flops_vector"] + VectorUnit.retrieval_element_ops(ops.kind, ops["hash_compares"], ops["m"],
                                                                    ops["candidates"])
        fv = np.where(mask, fv, 0.0)
        return UnitCost(fv / self.flops, {"vector_flop": fv})

    def prices(self) -> dict[str, Price]:
        return {"vector_flop": Price("vpe", self.hw.power.pj_per_flop_vector, "power.pj_per_flop_vector")}
