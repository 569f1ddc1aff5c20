"""On-chip SRAM buffers: capacity (decides what spills to DRAM), access energy and area."""

from __future__ import annotations

import numpy as np

from simulator.config.hardware import SramConfig
from simulator.config.tech import TechPoint


class SramBuffers:
    """The buffers of all ``cores`` (capacities and port bandwidth add up); areas are per core."""

    def __init__(self, cfg: SramConfig, tech: TechPoint, cores: int = 1, dre_kb: float = 0.0):
        self.cfg = cfg
        self.weight_bytes = cfg.weight_kb * 1024 * cores
        self.act_bytes = cfg.activation_kb * 1024 * cores
        self.kv_bytes = cfg.kv_kb * 1024 * cores
        self.bytes_per_cycle = cfg.banks * cfg.port_width_bits / 8 * cores  # one buffer's ports, all banks
        # three buffers of ``banks`` banks with ``port_width_bits`` ports (CACTI-style banks, tech.py)
        self.area_mm2 = sum(tech.sram_mm2(kb, cfg.banks, cfg.port_width_bits)
                            for kb in (cfg.weight_kb, cfg.activation_kb, cfg.kv_kb))
        self.dre_port_bits = int(tech.base("sram_dre_port_bits"))
        self.dre_area_mm2 = tech.sram_mm2(dre_kb, 4, self.dre_port_bits) if dre_kb else 0.0  # four small SRAMs
        self.dre_read_pj_per_bit = tech.sram_pj_per_bit(dre_kb / 4) if dre_kb else 0.0
        bank = {name: kb / cfg.banks for name, kb in
                (("weight", cfg.weight_kb), ("activation", cfg.activation_kb), ("kv", cfg.kv_kb))}
        self.read_pj_per_bit = {n: tech.sram_pj_per_bit(kb) for n, kb in bank.items()}
        self.write_pj_per_bit = {n: tech.sram_pj_per_bit(kb, write=True) for n, kb in bank.items()}

    def activation_spill(self, act_read: np.ndarray, act_write: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """DRAM bytes (read, write) for activations that do not fit the activation buffer.

        An op whose inputs plus outputs fit stays on chip; otherwise the excess share of each side
        goes through DRAM (first-order: no inter-op tiling/fusion beyond the buffer size).
        """
        act_read = np.asarray(act_read, dtype=np.float64)
        act_write = np.asarray(act_write, dtype=np.float64)
        total = act_read + act_write
        excess = np.maximum(total - self.act_bytes, 0.0)
        share = np.divide(excess, total, out=np.zeros_like(total), where=total > 0)
        return act_read * share, act_write * share
