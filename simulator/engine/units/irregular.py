"""Irregular GPU kernels of the software retrieval baselines: top-k, sorting, Hamming clustering.

Such kernels are priced by neither FLOPs nor one pass over their bytes: a top-k on a GPU is a radix select
(several passes over the scores plus a gather), a sort is a radix sort (a pass per digit, keys and indices
moved each time), and each is a handful of kernel launches. A kernel kind's time is

    launches x kernel launch overhead + elements x element bytes x passes / peak DRAM bandwidth

``passes`` (effective DRAM traffic per input byte, at the device's peak bandwidth) is fitted per kind by
``make calibrate`` (analysis/calibrate/links.py) on published kernel measurements; it carries over between
GPUs through the peak bandwidth (these kernels are memory-bound for the sizes here). ``launches`` per kind are
structural assumptions (stated in ``LAUNCHES``), the overhead per launch is the GPU config's fitted
``kernel_launch_us``.
"""

from __future__ import annotations

import numpy as np

# DRAM passes per input byte, fitted by `make calibrate` (analysis/calibrate/links.py; do not edit by hand):
# topk: torch.topk (radix select) on an NVIDIA L20, pytorch/pytorch#167462 (torch 2.4.1);
# sort: CUB radix sort on an A100 (Onesweep, arXiv 2206.01784: 29.4 GKey/s and 1.5x CUB).
PASSES = {"topk": 4.767, "sort": 26.008}
# kernel launches per call (assumptions, not measured): torch.topk's radix select over 16-bit scores
# (two 8-bit digit passes of count + select) and a gather; a radix sort's histogram, two digit passes and
# a scan; ReSV's WiCSum in software: a segmented sort of each row's cluster scores, a cumulative sum and a
# threshold compare; Hamming clustering: XOR + popcount of the hash codes, then the arg-min per token.
LAUNCHES = {"topk": 5, "sort": 4, "wicsum": 6, "cluster": 2}
# which measured rate each trace kind runs at
RATE_OF_KIND = {"topk": "topk", "wicsum": "sort"}
IRREGULAR_KINDS = tuple(LAUNCHES)


def irregular_kernel_s(kind: str, n_elems, elem_bytes: float, dram_peak_bytes_per_s: float,
                       launch_s: float) -> np.ndarray:
    """Time (s) of one call of an irregular kernel ``kind`` over ``n_elems`` input elements."""
    n = np.asarray(n_elems, dtype=np.float64)
    rate = RATE_OF_KIND.get(kind)
    mem = n * elem_bytes * PASSES[rate] / dram_peak_bytes_per_s if rate is not None else np.zeros_like(n)
    return LAUNCHES[kind] * launch_s + mem


def irregular_costs(kind: np.ndarray, n_elems: np.ndarray, elem_bytes: np.ndarray, dram_peak_bytes_per_s: float,
                    launch_s: float | np.ndarray) -> np.ndarray:
    """Per-event time (s) of the irregular kernels in a trace (0 for other kinds); ``launch_s``: the launch
    overhead of one call, for every event or per event (a call launched once per KV head pays it that often)."""
    out = np.zeros(len(kind))
    launch = np.broadcast_to(np.asarray(launch_s, dtype=np.float64), (len(kind),))
    for k in IRREGULAR_KINDS:
        sel = kind == k
        if sel.any():
            out[sel] = irregular_kernel_s(k, n_elems[sel], elem_bytes[sel], dram_peak_bytes_per_s, launch[sel])
    return out
