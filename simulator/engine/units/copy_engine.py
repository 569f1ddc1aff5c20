"""A GPU's copy engine: it moves KV between device memory and the offload tier over PCIe, beside the compute
stream. It claims no op kind by name: a KV transfer with offload traffic is issued to it (``GpuPlatform``);
its bytes move on the offload link, and it costs a launch."""

from __future__ import annotations

import numpy as np

from simulator.config.hardware import GpuConfig
from simulator.engine.ops import OpArrays, UnitCost


class CopyEngine:
    name = "copy"
    kinds: tuple[str, ...] = ()
    area_mm2 = 0.0

    def __init__(self, hw: GpuConfig):
        self.hw = hw

    def cost(self, ops: OpArrays, mask: np.ndarray) -> UnitCost:
        return UnitCost(np.zeros(len(ops)))
