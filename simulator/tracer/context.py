"""Annotations that models place around their kernels, read by the active trace recorder.

A *region* is one fused kernel of the model (``q_proj``, ``rope``, ``attn_score``, ``softmax`` ...):
every aten op run inside it is accumulated into a single trace event of the given kind.
With no recorder active, all of this is a no-op, so models run unchanged outside tracing.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Protocol

import torch


class RegionSink(Protocol):
    def begin_region(self, name: str, kind: str, head_group: int, kv_tier: str) -> None: ...
    def annotate(self, **fields) -> None: ...
    def end_region(self) -> None: ...
    def register(self, tensor: torch.Tensor, tensor_class: str) -> None: ...
    def set_layer(self, layer: int) -> None: ...
    def pause(self) -> contextlib.AbstractContextManager: ...
    def emit(self, **event) -> None: ...
    def row_count(self) -> int: ...
    def repeat_rows(self, start: int, end: int | None = None, **changes) -> None: ...


_ACTIVE: list[RegionSink] = []


def active() -> RegionSink | None:
    return _ACTIVE[-1] if _ACTIVE else None


@contextlib.contextmanager
def activate(sink: RegionSink) -> Iterator[RegionSink]:
    _ACTIVE.append(sink)
    try:
        yield sink
    finally:
        _ACTIVE.pop()


@contextlib.contextmanager
def region(name: str, kind: str, head_group: int = -1, kv_tier: str = "dram") -> Iterator[None]:
    """Group the ops inside into one event named ``name`` of kind ``kind``; KV bytes inside use ``kv_tier``."""
    sink = active()
    if sink is None:
        yield
        return
    sink.begin_region(name, kind, head_group, kv_tier)
    try:
        yield
    finally:
        sink.end_region()


def annotate(**fields) -> None:
    """Set extra event fields (``candidates``, ``selected``, ``bits_needed_mean``) on the open region."""
    sink = active()
    if sink is not None:
        sink.annotate(**fields)


def register(tensor: torch.Tensor, tensor_class: str) -> torch.Tensor:
    """Mark ``tensor`` (and views of it) as ``weight``, ``kv`` or ``activation`` storage."""
    sink = active()
    if sink is not None:
        sink.register(tensor, tensor_class)
    return tensor


def set_layer(layer: int) -> None:
    sink = active()
    if sink is not None:
        sink.set_layer(layer)


def paused() -> contextlib.AbstractContextManager:
    """Ops inside are not recorded (bookkeeping such as building masks or growing buffers)."""
    sink = active()
    return sink.pause() if sink is not None else contextlib.nullcontext()


def emit(**event) -> None:
    """Add an event computed analytically (e.g. retrieval work of a KV policy)."""
    sink = active()
    if sink is not None:
        sink.emit(**event)


def row_count() -> int:
    """Events recorded so far (a mark for :func:`repeat_rows`); 0 with no recorder."""
    sink = active()
    return sink.row_count() if sink is not None else 0


def repeat_rows(start: int, end: int | None = None, **changes) -> None:
    """Append copies of the events recorded between marks ``start`` and ``end`` (default: now) with
    ``changes`` applied (meta mode: work that is identical for several heads is traced once and repeated)."""
    sink = active()
    if sink is not None:
        sink.repeat_rows(start, end, **changes)
