"""Physical models: area and energy of blocks built from the tech table's primitives (``area_model``) and
peak power of an accelerator's blocks (``peak_power``)."""

from simulator.engine.physical.area_model import Block
from simulator.engine.physical.peak_power import peak_power_per_core_w

__all__ = ["Block", "peak_power_per_core_w"]
