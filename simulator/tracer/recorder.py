"""TorchDispatchMode recorder: aten ops -> one event per fused kernel (region).

Byte accounting of a region (a fused kernel):
- reads: every tensor the region uses that was produced outside it, once per storage, sized by the
  largest view read (a slice of the KV cache counts only its occupied part);
- writes: tensors produced in the region and not consumed inside it (its outputs), plus in-place
  writes (``copy_`` into the KV cache);
- bytes per element come from the tensor's class (weight / activation / kv) and the workload
  precision, not from the torch dtype, so a meta-device FP32 model can stand for an INT8 deployment.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from dataclasses import dataclass, field

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.weak import WeakIdKeyDictionary

from simulator.tracer import context
from simulator.tracer.op_costs import COPY_OPS, FREE_OPS, op_flops

GATHER_OPS = {"embedding", "index_select", "index", "gather"}
_COLUMN_OF = {"kv4": "kv"}  # tensor classes counted in another class's byte columns
_KIND_BY_OP = {"embedding": "embedding", "_softmax": "softmax", "native_layer_norm": "norm"}


@dataclass
class _Region:
    name: str
    kind: str
    head_group: int
    kv_tier: str = "dram"
    extra: dict = field(default_factory=dict)
    flops_matmul: int = 0
    flops_vector: int = 0
    gemm: tuple[int, int, int, int] | None = None
    reads: dict[int, list] = field(default_factory=dict)  # storage id -> [class, bytes]
    produced: dict[int, list] = field(default_factory=dict)  # storage id -> [class, bytes]
    consumed: set[int] = field(default_factory=set)
    inplace: dict[str, int] = field(default_factory=dict)  # class -> bytes written in place
    ops: int = 0


class Recorder(TorchDispatchMode):
    """Records events into ``self.rows`` (list of dicts). Use ``with Recorder(bits) as r, context.activate(r)``.

    ``bits`` maps tensor class (weight, activation, kv) to bits per element; the HC table (class ``hc``:
    cluster keys of ReSV) is stored at the KV precision.
    """

    def __init__(self, bits: dict[str, int]):
        super().__init__()
        self.bits = dict(bits)
        self.bits.setdefault("hc", self.bits["kv"])
        self.bits.setdefault("kv4", 4)  # KV quantised to 4 bits by the policy (Oaken), counted as KV bytes
        self.info: WeakIdKeyDictionary = WeakIdKeyDictionary()  # tensor -> (storage id, class)
        self._ids = itertools.count(1)
        self.stack: list[_Region] = []
        self.rows: list[dict] = []
        self.layer = -1
        self.phase: dict = {}
        self._paused = 0

    # ---- RegionSink protocol (see context.py) ----
    def begin_region(self, name: str, kind: str, head_group: int, kv_tier: str = "dram") -> None:
        self.stack.append(_Region(name, kind, head_group, kv_tier))

    def annotate(self, **fields) -> None:
        if self.stack:
            self.stack[-1].extra.update(fields)

    def end_region(self) -> None:
        reg = self.stack.pop()
        if reg.ops or reg.extra:
            self._finish(reg)

    def register(self, tensor: torch.Tensor, tensor_class: str) -> None:
        self.info[tensor] = (next(self._ids), tensor_class)

    def register_module(self, module: torch.nn.Module) -> None:
        for p in module.parameters():
            self.register(p, "weight")

    def set_layer(self, layer: int) -> None:
        self.layer = layer

    @contextlib.contextmanager
    def pause(self):
        self._paused += 1
        try:
            yield
        finally:
            self._paused -= 1

    def emit(self, **event) -> None:
        row = self._base_row()
        row.update(event)
        self.rows.append(row)

    def row_count(self) -> int:
        return len(self.rows)

    def repeat_rows(self, start: int, end: int | None = None, **changes) -> None:
        self.rows.extend([{**row, **changes} for row in self.rows[start:end]])

    # ---- bookkeeping ----
    def _meta(self, t: torch.Tensor) -> tuple[int, str]:
        got = self.info.get(t)
        if got is None:
            got = (next(self._ids), "activation")
            self.info[t] = got
        return got

    def _bytes(self, t: torch.Tensor, cls: str) -> int:
        return t.numel() * self.bits[cls] // 8

    def _base_row(self) -> dict:
        row = {"layer": self.layer, "head_group": -1, "batch": 0, "m": 0, "n": 0, "k": 0, "flops_matmul": 0,
               "flops_vector": 0, "bytes_weight_read": 0, "bytes_act_read": 0, "bytes_act_write": 0,
               "bytes_kv_read": 0, "bytes_kv_write": 0, "kv_tier": "dram", "kv_len": 0,
               "candidates": 0, "selected": 0, "hash_compares": 0, "scores_processed": 0, "kv_runs": 0,
               "kv_token_runs": 0, "bytes_hc_read": 0, "bytes_hc_write": 0,
               "weight_bits": self.bits["weight"], "act_bits": self.bits["activation"], "kv_bits": self.bits["kv"]}
        row.update(self.phase)
        return row

    def _finish(self, reg: _Region) -> None:
        row = self._base_row()
        read = {"weight": 0, "activation": 0, "kv": 0, "hc": 0}
        for sid, (cls, nbytes) in reg.reads.items():
            read[_COLUMN_OF.get(cls, cls)] += nbytes
        written = {"weight": 0, "activation": 0, "kv": 0, "hc": 0}
        for sid, (cls, nbytes) in reg.produced.items():
            if sid not in reg.consumed:
                written[_COLUMN_OF.get(cls, cls)] += nbytes
        for cls, nbytes in reg.inplace.items():
            written[_COLUMN_OF.get(cls, cls)] += nbytes
        row.update(op=reg.name, kind=reg.kind, head_group=reg.head_group, flops_matmul=reg.flops_matmul,
                   flops_vector=reg.flops_vector, bytes_weight_read=read["weight"], bytes_act_read=read["activation"],
                   bytes_act_write=written["activation"] + written["weight"], bytes_kv_read=read["kv"],
                   bytes_kv_write=written["kv"], kv_tier=reg.kv_tier, bytes_hc_read=read["hc"],
                   bytes_hc_write=written["hc"])
        row.update(reg.extra)
        if reg.gemm is not None:
            row["batch"], row["m"], row["n"], row["k"] = reg.gemm
            if reg.kind == "attn_score":
                row["kv_len"] = reg.gemm[2]
            elif reg.kind == "attn_value":
                row["kv_len"] = reg.gemm[3]
        self.rows.append(row)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self._paused:
            return out
        name = func.__name__.split(".")[0]
        flat_in, _ = tree_flatten((args, kwargs))
        tensors_in = [t for t in flat_in if isinstance(t, torch.Tensor)]
        flat_out, _ = tree_flatten(out)
        tensors_out = [t for t in flat_out if isinstance(t, torch.Tensor)]
        if func.is_view or name in FREE_OPS:
            src = self.info.get(tensors_in[0]) if tensors_in else None
            for t in tensors_out:
                if src is not None:
                    self.info[t] = src  # views and aliases share storage id and class
                else:
                    self._meta(t)
            return out
        own_region = not self.stack
        if own_region:
            kind = _KIND_BY_OP.get(name, "copy" if name in COPY_OPS else "elementwise")
            self.stack.append(_Region(name, kind, -1))
        reg = self.stack[-1]
        reg.ops += 1
        mm, vec, shape = op_flops(name, args, out)
        reg.flops_matmul += mm
        reg.flops_vector += vec
        if shape is not None and (reg.gemm is None or math.prod(shape) > math.prod(reg.gemm)):
            reg.gemm = shape
        mutated = func._schema.is_mutable
        dst = tensors_in[0] if mutated and tensors_in else None
        for t in tensors_in:
            if t is dst:
                continue
            sid, cls = self._meta(t)
            if sid in reg.produced:
                reg.consumed.add(sid)
                continue
            nbytes = self._bytes(t, cls)
            if name in GATHER_OPS and t is tensors_in[0] and tensors_out:
                nbytes = min(nbytes, self._bytes(tensors_out[0], cls))  # a lookup reads only the gathered rows
            prev = reg.reads.get(sid)
            if prev is None or prev[1] < nbytes:
                reg.reads[sid] = [cls, nbytes]
        if dst is not None:
            sid, cls = self._meta(dst)
            reg.inplace[cls] = reg.inplace.get(cls, 0) + self._bytes(dst, cls)
            for t in tensors_out:
                self.info[t] = (sid, cls)
        else:
            for t in tensors_out:
                sid, cls = self._meta(t)
                reg.produced[sid] = [cls, self._bytes(t, cls)]
        if own_region:
            self.stack.pop()
            self._finish(reg)
        return out


@contextlib.contextmanager
def recording(bits: dict[str, int], modules: list[torch.nn.Module] = ()):
    """Activate a recorder and register the modules' parameters as weights."""
    rec = Recorder(bits)
    for m in modules:
        rec.register_module(m)
    with rec, context.activate(rec):
        yield rec
