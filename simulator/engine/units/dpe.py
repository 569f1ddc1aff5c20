"""DPE, the matrix engine of every core (MAC trees or a systolic array, ``pe_array.py``), as a unit.

A matrix op is split over the cores by ``multicore.split_matrix`` (the NoC exchange is on its critical
path); its vector work (bias adds) is pipelined on the VPE behind it. The DPE reads its operands from the
SRAM buffers as its dataflow dictates (``PeArray.operand_reads``): A and C from the activation buffer,
B from the weight buffer (a GEMM) or the KV buffer (attention).
"""

from __future__ import annotations

import numpy as np

from simulator.engine.ops import MATRIX_KINDS, RETRIEVAL_SCORE_KINDS, OpArrays, UnitCost
from simulator.engine.platform import Price
from simulator.engine.units.multicore import Noc, split_matrix
from simulator.engine.units.pe_array import PeArray
from simulator.engine.units.vector_unit import VectorUnit


class Dpe:
    name = "dpe"
    kinds = MATRIX_KINDS + RETRIEVAL_SCORE_KINDS

    def __init__(self, pe: PeArray, noc: Noc, vector: VectorUnit, clock_hz: float):
        self.pe, self.noc, self.vector, self.clock_hz = pe, noc, vector, clock_hz
        self.area_mm2 = pe.area_mm2  # per core

    def cost(self, ops: OpArrays, mask: np.ndarray) -> UnitCost:
        b, m, n, k = ops["batch"], ops["m"], ops["n"], ops["k"]
        # the split searched on this unit's rows only (an op of another unit costs nothing here: no cycles, no
        # exchange)
        sel = np.flatnonzero(mask)
        pe_s, noc_s, noc_bytes = np.zeros(len(mask)), np.zeros(len(mask)), np.zeros(len(mask))
        if len(sel):
            pe_s[sel], noc_s[sel], noc_bytes[sel] = split_matrix(
                self.pe, self.noc, self.clock_hz, np.asarray(b)[sel], np.asarray(m)[sel], np.asarray(n)[sel],
                np.asarray(k)[sel], np.asarray(ops["bytes_act_write"])[sel])
        fv = ops["flops_vector"]
        vec_side = np.where(mask, self.vector.cycles(fv), 0.0) / self.clock_hz
        a_el, b_el, o_el = self.pe.operand_reads(np.where(mask, b, 0), m, n, k)
        act, gemm = ops["act_bits"], ops.kind == "gemm"
        return UnitCost(np.maximum(pe_s, vec_side) + noc_s, {
            "mac": np.where(mask, ops["flops_matmul"] / 2, 0.0),
            "vector_op": np.where(mask, fv, 0.0),
            "noc_bit": noc_bytes * 8,
            "sram_read_bit.activation": a_el * act,
            "sram_read_bit.weight": np.where(gemm, b_el * ops["weight_bits"], 0.0),
            "sram_read_bit.kv": np.where(gemm, 0.0, b_el * ops["kv_bits"]),
            "sram_write_bit.activation": o_el * act,
        }, {"noc_bytes": noc_bytes})

    def peak_actions_per_cycle(self) -> dict[str, float]:
        """Every MAC of the core every cycle."""
        return {"mac": float(self.pe.macs)}

    def prices(self) -> dict[str, Price]:
        return {"mac": Price("dpe", self.pe.mac_pj, f"base.mac_energy_pj.{self.pe.cfg.precision}"),
                "noc_bit": Price("noc", self.noc.pj_per_bit, "base.noc_pj_per_bit")}
