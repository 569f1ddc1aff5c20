"""A GPU's tensor cores: matrix kernels at the achieved fraction of the tensor peak of their precision.

A kernel runs at its weights' format (4-bit weights: ``w4a16``, 8-bit: ``int8``) or, without weights
(attention, InfiniGen's / ReKV's scoring), at the activations' format. Above the GEMV size a matrix kernel
computes whole tiles of rows (``gemm_tile_rows``); a weight-only format unpacks its weights (once in a GEMV,
once per row tile in a GEMM), not overlapped. The kernel's vector work (bias adds) runs on the CUDA cores
within it.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from simulator.config.hardware import GPU_PRECISIONS, GpuConfig
from simulator.engine.ops import MATRIX_KINDS, RETRIEVAL_SCORE_KINDS, OpArrays, UnitCost
from simulator.engine.platform import Price

# activations' format -> the GPU precision of kernels without weights (INT4 activations use the INT8 path)
ACT_PRECISION = {"fp16": "fp16", "bf16": "bf16", "int8": "int8", "int4": "int8"}


def kernel_precision(kind: np.ndarray, weight_bytes: np.ndarray, weight_bits: np.ndarray, act: str) -> np.ndarray:
    """Each kernel's precision as an index into ``GPU_PRECISIONS`` (see ``GpuEfficiency``): the weights'
    format for matrix kernels with weights (4 bits: ``w4a16``, 8 bits: ``int8``), else the activations'."""
    code = {p: np.int8(i) for i, p in enumerate(GPU_PRECISIONS)}
    has_w = np.isin(kind, MATRIX_KINDS) & (weight_bytes > 0)
    out = np.full(len(kind), code[ACT_PRECISION[act]], dtype=np.int8)
    out[has_w & (weight_bits == 4)] = code["w4a16"]
    out[has_w & (weight_bits == 8)] = code["int8"]
    return out


class TensorCores:
    name = "tensor"
    kinds = MATRIX_KINDS + RETRIEVAL_SCORE_KINDS
    area_mm2 = 0.0  # the GPU's area is its die's (``die_area_mm2``)

    def __init__(self, hw: GpuConfig, activations: Callable[[], str]):
        self.hw = hw
        self.activations = activations  # the trace's activations' format, read when costing
        self.vector_flops = hw.fp32_tflops * 1e12 * hw.stack.vector

    def tensor_peak(self, precision: str, act: str) -> float:
        """Dense tensor-core peak (FLOP/s) a kernel of ``precision`` runs at: W4A16 unpacks its weights and
        multiplies at the activations' rate; a precision the config does not list uses FP16's."""
        peaks = self.hw.tensor_tflops
        key = ACT_PRECISION[act] if precision == "w4a16" else precision
        return peaks.get(key, peaks.get("fp16", max(peaks.values()))) * 1e12

    def cost(self, ops: OpArrays, mask: np.ndarray) -> UnitCost:
        act = self.activations()
        fm, fv = ops["flops_matmul"], ops["flops_vector"]
        w, wbits = ops["bytes_weight_read"], ops["weight_bits"]
        prec = kernel_precision(ops.kind, w, wbits, act)
        eff = self.hw.stack  # the efficiencies of the stack the GPU runs (``software``)
        table = np.array([[eff.at(p).gemm, eff.at(p).gemm_tile_rows, eff.at(p).dequant_ps_per_weight,
                           self.tensor_peak(p, act)] for p in GPU_PRECISIONS])
        gemm_frac, tile, deq_ps, peak = table[prec].T
        # tile quantisation: above the GEMV size a matrix kernel computes whole tiles of rows (a GEMV: one
        # pass over its rows as they are)
        m = ops["m"].astype(np.float64)
        gemm = m > eff.gemv_max_rows
        tiles = np.where(gemm, np.ceil(m / tile), 1.0)
        padded = np.where(gemm, tiles * tile, m)
        fm_run = np.where(m > 0, fm * padded / np.maximum(m, 1.0), fm)
        time_s = np.where(mask, fm_run / (peak * gemm_frac) + fv / self.vector_flops, 0.0)
        # unpacking weight-only formats: a GEMV kernel unpacks each weight once; a GEMM kernel's every row
        # tile unpacks the weight panel it streams
        weight_elems = np.where(wbits > 0, w * 8.0 / np.maximum(wbits, 1), 0.0)
        dequant_s = np.where(mask, weight_elems * tiles * deq_ps * 1e-12, 0.0)
        return UnitCost(time_s, {"tensor_flop": np.where(mask, fm, 0.0), "vector_flop": np.where(mask, fv, 0.0)},
                        {"precision": prec, "dequant_s": dequant_s})

    def prices(self) -> dict[str, Price]:
        return {"tensor_flop": Price("dpe", self.hw.power.pj_per_flop_tensor, "power.pj_per_flop_tensor")}
