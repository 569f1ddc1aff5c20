"""FLOP counts of aten ops, split into matrix-unit FLOPs and vector-unit element ops.

Matrix FLOPs follow the convention of ``torch.utils.flop_counter`` (2 per multiply-accumulate, the
bias add of ``addmm`` not included) so the two can be compared. Vector costs are element operations
per output (or input, for reductions) element; transcendental functions count as one operation on the
special-function path, as on a typical SIMD unit with an exp/rsqrt/tanh table.
"""

from __future__ import annotations

import math

import torch

aten = torch.ops.aten

# Ops that move no data and do no arithmetic (views, aliasing, allocation, metadata).
FREE_OPS = {
    "_unsafe_view", "detach", "alias", "lift_fresh", "empty", "zeros", "ones", "full", "empty_like",
    "zeros_like", "ones_like", "full_like", "empty_strided", "new_empty", "new_zeros", "new_ones",
    "new_empty_strided", "scalar_tensor", "arange", "_local_scalar_dense", "sym_size", "sym_stride",
}

# Element ops per output element for pointwise ops (default 1).
POINTWISE_COST = {
    "gelu": 8,  # tanh approximation: x^3, 2 mul, add, tanh, add, 2 mul
    "silu": 4,  # exp, add, div, mul
    "sigmoid": 3,
    "pow": 1,
    "rsqrt": 1,
    "exp": 1,
    "tanh": 1,
    "neg": 1,
}

# Element ops per *input* element for reductions and normalisations.
REDUCTION_COST = {
    "mean": 1, "sum": 1, "amax": 1, "amin": 1, "max": 1, "min": 1, "var": 3, "var_mean": 3,
    "_softmax": 5,  # max, sub, exp, sum, div
    "native_layer_norm": 7,  # mean, sub, square, mean, rsqrt, mul, affine (mul + add)
    "_adaptive_avg_pool2d": 1,
    "adaptive_avg_pool2d": 1,
}

# Pure data movement: bytes, no arithmetic.
COPY_OPS = {"copy_", "clone", "_to_copy", "cat", "stack", "index_select", "gather", "embedding", "index",
            "expand_copy", "slice_scatter", "select_scatter", "contiguous"}


def _numel(t) -> int:
    return math.prod(t.shape) if isinstance(t, torch.Tensor) else 0


def gemm_shape(name: str, args: tuple) -> tuple[int, int, int, int] | None:
    """(batch, m, n, k) of a matrix op, or None if the op is not one."""
    if name == "mm":
        a, b = args[0], args[1]
        return 1, a.shape[0], b.shape[1], a.shape[1]
    if name == "addmm":
        a, b = args[1], args[2]
        return 1, a.shape[0], b.shape[1], a.shape[1]
    if name == "bmm":
        a, b = args[0], args[1]
        return a.shape[0], a.shape[1], b.shape[2], a.shape[2]
    if name == "baddbmm":
        a, b = args[1], args[2]
        return a.shape[0], a.shape[1], b.shape[2], a.shape[2]
    return None


def op_flops(name: str, args: tuple, out) -> tuple[int, int, tuple[int, int, int, int] | None]:
    """(matrix FLOPs, vector element ops, gemm shape) of one aten op."""
    shape = gemm_shape(name, args)
    if shape is not None:
        bt, m, n, k = shape
        vec = bt * m * n if name in ("addmm", "baddbmm") else 0
        return 2 * bt * m * n * k, vec, shape
    if name in FREE_OPS or name in COPY_OPS:
        return 0, 0, None
    if name in REDUCTION_COST:
        return 0, REDUCTION_COST[name] * _numel(args[0]), None
    outs = out if isinstance(out, (tuple, list)) else (out,)
    n_out = sum(_numel(o) for o in outs if isinstance(o, torch.Tensor))
    return 0, POINTWISE_COST.get(name, 1) * n_out, None
