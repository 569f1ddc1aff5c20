"""The memory system: on-chip SRAM (``sram``), device DRAM (``dram``), the KV capacity model (``kv_memory``)
and the offload tier behind PCIe (``offload``: an NVMe SSD or host memory, with the measured link and drive
models of ``links``)."""

from simulator.engine.memory.dram import Dram
from simulator.engine.memory.kv_memory import KvCapacity, check_capacity, run_status
from simulator.engine.memory.offload import NoOffload, OffloadTier
from simulator.engine.memory.sram import SramBuffers

__all__ = ["Dram", "KvCapacity", "NoOffload", "OffloadTier", "SramBuffers", "check_capacity", "run_status"]
