"""Area and energy of hardware blocks, built from their structure out of the tech table's primitives.

Each function returns a :class:`Block`: its area at the node (mm^2) and the energy of one use at
full activity (pJ): one cycle of a MAC tree, one MAC of a systolic PE, one element op of a vector lane,
one Hamming distance of an HCU unit, one score of a WTU lane, one request of the KVMU. Primitives
(multipliers, adders, cells, SRAM banks, node scaling) and their sources are in
hwconfigs/tech/technology.yaml (see ``simulator/config/tech.py``).

Structures:

- **MAC tree** of N inputs (LPU / V-Rex DPE; DianNao's NFU): N multipliers, then (floating point)
  the largest product exponent is found by N-1 exponent comparators and each product significand is
  shifted into alignment, so the N-1 adders of the reduction tree are integer adders of
  ``product bits + log2 N`` bits; normalisation and accumulation happen once per tree in one
  FP32 adder (integer: one 32-bit adder) with its register. Per input: double-buffered weight tile
  registers and a product pipeline register; the activation slice is one register broadcast to all
  trees of the engine.
- **Systolic PE**: its own multiplier and accumulate adder (FP32 for floating point), operand
  registers for the two inputs it passes on and the accumulator register.
- **Vector lane**: a multiplier and an FP32 adder (an FMA-class lane) plus its register file.
- **HCU unit**: ``hash_bits`` XOR gates, a popcount (``bits - 1`` full adders), a compare of the
  count against Th_hd and the code register.
- **WTU core**: a MAC tree of ``wtu_lanes`` inputs (score x token count, accumulated), per lane a
  bucket index found by ``log2(buckets)`` 16-bit compares, per bucket a 16-bit counter, the threshold
  multiply (Th_r x Sum) and compare.
- **KVMU**: address generators (base, stride and limit registers, an adder and a compare of the
  address width) and a request queue of 64-bit entries.
- **SRAM**: CACTI-style banks (``TechPoint.sram_bank_mm2``); energy per bit by bank size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from simulator.config.tech import TechPoint, precision_bits


@dataclass(frozen=True)
class Block:
    area_mm2: float
    pj: float  # energy of one use at full activity

    def __add__(self, other: "Block") -> "Block":
        return Block(self.area_mm2 + other.area_mm2, self.pj + other.pj)

    def __mul__(self, n: float) -> "Block":
        return Block(self.area_mm2 * n, self.pj * n)

    __rmul__ = __mul__


def _op(t: TechPoint, pj_um2: tuple[float, float]) -> Block:
    """A published operator (pJ, um^2 at the base node) at ``t``'s node."""
    pj, um2 = pj_um2
    return Block(t.logic_mm2(um2), t.energy(pj))


def _logic(t: TechPoint, um2: float, activity: float = 1.0) -> Block:
    """Random logic of ``um2`` (base node) switching with ``activity`` per use."""
    return Block(t.logic_mm2(um2), activity * t.logic_pj(um2))


def register(t: TechPoint, bits: float, activity: float = 1.0) -> Block:
    return _logic(t, bits * t.base("dff_um2"), activity)


def adder(t: TechPoint, bits: int) -> Block:
    return _op(t, t.int_add(bits))


def comparator(t: TechPoint, bits: int) -> Block:
    return adder(t, bits)  # a magnitude compare is a subtraction


def shifter(t: TechPoint, bits: int, positions: int) -> Block:
    """Barrel shifter: ``bits`` x log2(positions) 2:1 multiplexers."""
    return _logic(t, bits * math.ceil(math.log2(max(positions, 2))) * t.base("mux2_um2"))


def multiplier(t: TechPoint, precision: str) -> Block:
    return _op(t, t.mult(precision))


def accumulator_adder(t: TechPoint, precision: str) -> Block:
    return _op(t, t.accumulator(precision))


def _is_float(precision: str) -> bool:
    return precision in ("fp16", "bf16")


def _significand_bits(precision: str) -> int:
    return {"fp16": 11, "bf16": 8}.get(precision) or precision_bits(precision)


def mac_tree(t: TechPoint, inputs: int, precision: str) -> Block:
    """One tree of ``inputs`` multipliers feeding one adder tree and one accumulator; ``pj`` per cycle."""
    n = inputs
    bits = precision_bits(precision)
    levels = math.ceil(math.log2(max(n, 2)))
    prod = 2 * _significand_bits(precision)
    per_input = multiplier(t, precision)
    per_input += register(t, 2 * bits, activity=0.0)  # weight tile + its double buffer: static during a tile
    if _is_float(precision):
        per_input += register(t, prod + 8)  # product significand + exponent pipeline register
        per_input += shifter(t, prod, prod) + comparator(t, 8)  # alignment and the max-exponent tree
    else:
        per_input += register(t, prod)
    tree = per_input * n + adder(t, prod + levels) * (n - 1)
    return tree + accumulator_adder(t, precision) + register(t, 32)


def systolic_pe(t: TechPoint, precision: str) -> Block:
    """One PE: multiplier, accumulate adder, two operand registers and the accumulator; ``pj`` per MAC."""
    bits = precision_bits(precision)
    return multiplier(t, precision) + accumulator_adder(t, precision) + register(t, 2 * bits) + register(t, 32)


def matrix_engine(t: TechPoint, cfg) -> tuple[float, float]:
    """(area mm^2, pJ per MAC) of one core's matrix engine (``PeArrayConfig``)."""
    if cfg.kind == "mac_tree":
        tree = mac_tree(t, cfg.tree_inputs, cfg.precision)
        broadcast = register(t, cfg.tree_inputs * precision_bits(cfg.precision))  # shared activation slice
        area = cfg.trees * tree.area_mm2 + broadcast.area_mm2
        pj = (cfg.trees * tree.pj + broadcast.pj) / (cfg.trees * cfg.tree_inputs)
        return area, pj
    pe = systolic_pe(t, cfg.precision)
    return cfg.rows * cfg.cols * pe.area_mm2, pe.pj


def vector_lane(t: TechPoint, precision: str = "bf16") -> Block:
    """One FMA-class lane (multiplier of ``precision`` + FP32 adder) with its register file; ``pj`` per op.

    Per op the lane reads two registers and writes one (3 of its registers switch)."""
    regs = t.base("vector_lane_registers")
    mult_prec = precision if _is_float(precision) else "fp16"
    return (multiplier(t, mult_prec) + _op(t, (t.base("fp32_add_pj"), t.base("fp32_add_um2")))
            + register(t, 32 * regs, activity=3 / regs))


def hcu_unit(t: TechPoint, hash_bits: int = 32) -> Block:
    """One XOR-accumulator: XOR, popcount, compare against Th_hd, code register; ``pj`` per 32-bit word."""
    w = min(hash_bits, 32)
    count_bits = math.ceil(math.log2(w + 1))
    return (_logic(t, w * t.base("xor2_um2")) + _logic(t, (w - 1) * t.base("fa_um2"))
            + comparator(t, count_bits) + register(t, w + count_bits))


def wtu_core(t: TechPoint, lanes: int, buckets: int) -> tuple[Block, float]:
    """(one WTU core with ``buckets`` score buckets, pJ per score binned or walked)."""
    compares = math.ceil(math.log2(max(buckets, 2)))
    tree = mac_tree(t, lanes, "bf16")
    per_lane = comparator(t, 16) * compares
    per_bucket = register(t, 16, activity=1 / buckets) + adder(t, 16) * (1 / buckets)
    threshold = multiplier(t, "bf16") + comparator(t, 32)
    core = tree + per_lane * lanes + per_bucket * buckets + threshold
    pj_per_score = tree.pj / lanes + per_lane.pj + per_bucket.pj * buckets / lanes
    return core, pj_per_score


def kvmu(t: TechPoint) -> Block:
    """Address generators and request queue of one core; ``pj`` per request."""
    a = int(t.base("kvmu_address_bits"))
    gens = int(t.base("kvmu_generators"))
    entries = int(t.base("kvmu_queue_entries"))
    gen = register(t, 3 * a, activity=1 / 3) + adder(t, a) + comparator(t, a)  # next address, limit check
    queue = register(t, 64 * entries, activity=1 / entries)  # one entry written per request
    area = gens * gen.area_mm2 + queue.area_mm2
    return Block(area, gen.pj + queue.pj)
