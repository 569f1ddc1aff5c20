"""Templated tracing (meta mode): trace each distinct phase shape a few times, compute the rest in numpy.

In meta mode a phase's events depend on the KV cache only through a few integers per KV-dependent event
(the attended length, the candidates and selections of a retrieval policy, the fetched tokens ...): the
policy's :meth:`~simulator.models.kv_cache.KVCache.meta_plan` names them per event (op) and says which
events the phase has (its structure). Every column of such an event is an affine function of its
integers (they are tensor dimensions, and FLOPs and bytes are sums of products with one varying factor),
so a template keyed by (phase kind, tokens, structure) predicts a phase exactly from traced samples
whose integers span the new phase's: ``v(p) = v(p0) + sum_i mu_i (v(p_i) - v(p0))`` where
``p - p0 = sum_i mu_i (p_i - p0)``. A phase outside the samples' span is traced and becomes a sample.

A template generates phases only once one traced phase, predicted entirely from earlier samples, matched
its trace exactly; a mismatch (an integer the plan did not name) disables the template, so those phases
are traced. Everything is kept as numpy columns, never as per-event Python objects.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from simulator.tracer.events import COLUMN_NAMES, NUMPY_DTYPES

PHASE_COLS = ("frame", "question", "step", "t_arrival_s", "tokens")  # set from the phase, not the template
STRING_COLS = tuple(c for c in COLUMN_NAMES if c not in NUMPY_DTYPES)
VALUE_COLS = tuple(c for c in COLUMN_NAMES if c in NUMPY_DTYPES and c not in PHASE_COLS and c != "layer")
_TOL = 1e-3  # a predicted value farther than this from an integer is not trusted (the phase is traced)


def rows_to_columns(rows: list[dict]) -> dict[str, np.ndarray]:
    """Recorder rows (dicts) -> one array per column (strings as object arrays, numbers in trace dtypes)."""
    out = {}
    for c in COLUMN_NAMES:
        vals = [r[c] for r in rows]
        out[c] = np.array(vals, dtype=object) if c in STRING_COLS else np.array(vals).astype(NUMPY_DTYPES[c])
    return out


def value_matrix(cols: dict[str, np.ndarray]) -> np.ndarray:
    """The value columns of a block as one int64 matrix (rows x VALUE_COLS)."""
    if not len(cols["layer"]):
        return np.zeros((0, len(VALUE_COLS)), dtype=np.int64)
    return np.column_stack([cols[c].astype(np.int64) for c in VALUE_COLS])


def replication_index(layers: np.ndarray, groups: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Rows of a block traced with one representative layer per group (traced layer g stands for the layers
    ``groups[g]``) expanded to every layer in layer order: (row index to take, layer of each output row).
    The same expansion as ``simulator.stream._replicate_layers``."""
    layers = np.asarray(layers)
    is_layer = layers >= 0
    if not is_layer.any() or all(len(g) == 1 and g[0] == i for i, g in enumerate(groups)):
        return np.arange(len(layers)), layers.astype(np.int16)
    idx = np.flatnonzero(is_layer)
    first, last = idx[0], idx[-1]
    traced = layers[first:last + 1]
    rows_of = [first + np.flatnonzero(traced == g) for g in range(len(groups))]
    owner = {layer: g for g, members in enumerate(groups) for layer in members}
    take = [np.arange(first)]
    out_layer = [layers[:first]]
    for layer in range(len(owner)):
        take.append(rows_of[owner[layer]])
        out_layer.append(np.full(len(rows_of[owner[layer]]), layer))
    take.append(np.arange(last + 1, len(layers)))
    out_layer.append(layers[last + 1:])
    return np.concatenate(take), np.concatenate(out_layer).astype(np.int16)


class AffineFit:
    """Values of some events (a matrix: rows x value columns) as an affine function of integers ``p``."""

    def __init__(self, p0: tuple[int, ...], v0: np.ndarray):
        self.p0 = np.asarray(p0, dtype=np.float64)
        self.v0 = v0
        self.dirs: list[np.ndarray] = []  # p_i - p0 of samples that widened the span
        self.dvals: list[np.ndarray] = []  # v(p_i) - v(p0), flattened
        self._pinv = np.zeros((0, len(p0)))
        self._dirs = np.zeros((len(p0), 0))
        self._dv = np.zeros((v0.size, 0))
        self._memo: dict[tuple, np.ndarray | None] = {}  # predictions by p (phases often repeat one)

    def _coords(self, p) -> np.ndarray | None:
        d = np.asarray(p, dtype=np.float64) - self.p0
        if not self.dirs:
            return np.zeros(0) if not d.any() else None
        mu = self._pinv @ d
        if np.abs(self._dirs @ mu - d).max() > 1e-6:
            return None  # outside the samples' span
        return mu

    def predict(self, p) -> np.ndarray | None:
        """Predicted values at ``p``, or None if ``p`` is outside the span or the prediction is not integral."""
        p = tuple(p)
        if p in self._memo:
            return self._memo[p]
        if len(self._memo) > 4096:
            self._memo.clear()
        self._memo[p] = v = self._predict(p)
        return v

    def _predict(self, p: tuple) -> np.ndarray | None:
        mu = self._coords(p)
        if mu is None:
            return None
        if not len(mu):
            return self.v0
        v = self.v0.ravel() + self._dv @ mu
        r = np.rint(v)
        if np.abs(v - r).max() > _TOL:
            return None
        return r.reshape(self.v0.shape)

    def add(self, p, v: np.ndarray) -> None:
        """A traced sample; widens the span if ``p`` lies outside it."""
        if self._coords(p) is not None:
            return
        self.dirs.append(np.asarray(p, dtype=np.float64) - self.p0)
        self.dvals.append((v - self.v0).ravel())
        self._dirs = np.column_stack(self.dirs)
        self._pinv = np.linalg.pinv(self._dirs)
        self._memo.clear()
        self._dv = np.column_stack(self.dvals)


class PhaseTemplate:
    """The events of one phase shape: template rows plus one :class:`AffineFit` per (traced layer, op) whose
    events depend on the cache (the others are the template's rows, checked on every traced phase)."""

    def __init__(self, cols: dict[str, np.ndarray], params: list[dict[str, tuple[int, ...]]],
                 groups: list[list[int]], table: "EventTable"):
        self.strings = {c: cols[c] for c in STRING_COLS if c != "phase"}
        self.codes = table.codes(cols)
        self.layers = cols["layer"]
        self.values = value_matrix(cols)
        self.take, self.out_layer = replication_index(self.layers, groups)
        self.verified = False
        self.broken = False
        self.traced = 1
        self.generated = 0
        ops = self.strings["op"]
        self.fits: dict[tuple[int, str], tuple[np.ndarray, AffineFit]] = {}
        for g, op in sorted({(int(layer), str(o)) for layer, o in zip(self.layers, ops)}):
            idx = np.flatnonzero((self.layers == g) & (ops == op))
            self.fits[(g, op)] = (idx, AffineFit(self._p(params, g, op), self.values[idx].astype(np.float64)))
        self.varying = {k: v for k, v in self.fits.items() if self._p(params, *k)}
        if self._named(params) != set(self.varying):
            self.broken = True  # the plan names an event the phase does not have

    @staticmethod
    def _named(params: list[dict[str, tuple[int, ...]]]) -> set[tuple[int, str]]:
        """(traced layer, op) of every event a plan gives integers for."""
        return {(g, op) for g, named in enumerate(params) for op, p in named.items() if p}

    @staticmethod
    def _p(params: list[dict[str, tuple[int, ...]]], g: int, op: str) -> tuple[int, ...]:
        return params[g].get(op, ()) if g >= 0 else ()

    def predict(self, params: list[dict[str, tuple[int, ...]]]) -> np.ndarray | None:
        """Value columns (int64) of a phase with these plan parameters, or None if it must be traced."""
        if self.broken or self._named(params) != self.varying.keys():
            return None
        out = self.values.copy()
        for (g, op), (idx, fit) in self.varying.items():
            v = fit.predict(self._p(params, g, op))
            if v is None:
                return None
            out[idx] = v
        return out

    def observe(self, cols: dict[str, np.ndarray], params: list[dict[str, tuple[int, ...]]]) -> None:
        """A traced phase of this shape: check it against the prediction, then learn from it."""
        self.traced += 1
        if self.broken:
            return
        same_rows = (len(cols["layer"]) == len(self.layers) and np.array_equal(cols["layer"], self.layers)
                     and all(np.array_equal(cols[c], s) for c, s in self.strings.items()))
        if not same_rows or self._named(params) != self.varying.keys():
            self.broken = True
            return
        values = value_matrix(cols)
        pred = self.predict(params)
        if pred is not None:
            if not np.array_equal(pred, values):
                self.broken = True  # the plan missed something these events depend on: trace them
                return
            self.verified = True
        for (g, op), (idx, fit) in self.fits.items():
            p = self._p(params, g, op)
            v = fit.predict(p)
            if v is not None and not np.array_equal(v, values[idx]):
                self.broken = True
                return
            fit.add(p, values[idx].astype(np.float64))


class EventTable:
    """The trace's events, block by block (a phase each): value columns before the layer expansion, string
    columns as codes, the expansion (rows to take, their layers) and the phase's fields."""

    def __init__(self):
        self.vocab: dict[str, int] = {}
        self.blocks: list[tuple] = []

    def codes(self, cols: dict[str, np.ndarray]) -> np.ndarray:
        """The block's op, kind and KV-tier strings as vocabulary codes (rows x 3, int32)."""
        out = np.zeros((len(cols["layer"]), 3), dtype=np.int32)
        for j, c in enumerate(("op", "kind", "kv_tier")):
            out[:, j] = [self.vocab.setdefault(str(x), len(self.vocab)) for x in cols[c]]
        return out

    def add(self, values: np.ndarray, codes: np.ndarray, take: np.ndarray, out_layer: np.ndarray, info: dict) -> None:
        phase = self.vocab.setdefault(info["phase"], len(self.vocab))
        fields = (phase, info["frame"], info["question"], info["step"], info["t_arrival_s"], info["tokens"])
        self.blocks.append((values, codes, take, out_layer, fields))

    def add_traced(self, cols: dict[str, np.ndarray], groups: list[list[int]], info: dict) -> None:
        """A traced block (one representative layer per group) of the phase ``info``."""
        self.add(value_matrix(cols), self.codes(cols), *replication_index(cols["layer"], groups), info)

    def frame(self) -> pd.DataFrame:
        """The events table (dtypes as the fully traced path gives them); empties the table."""
        blocks, self.blocks = self.blocks, []
        if not blocks:
            return pd.DataFrame(columns=COLUMN_NAMES)[COLUMN_NAMES].astype(NUMPY_DTYPES)
        counts = np.array([len(b[2]) for b in blocks])
        offsets = np.cumsum([0] + [len(b[0]) for b in blocks[:-1]])
        take = np.concatenate([b[2] + off for b, off in zip(blocks, offsets)])
        data: dict[str, object] = {}
        infos = list(zip(*[b[4] for b in blocks]))
        for c, vals in zip(PHASE_COLS, infos[1:]):
            data[c] = np.repeat(np.asarray(vals, dtype=NUMPY_DTYPES[c]), counts)
        phase_codes = np.repeat(np.asarray(infos[0], dtype=np.int32), counts)
        data["layer"] = np.concatenate([b[3] for b in blocks])
        del infos
        rows = int(offsets[-1]) + len(blocks[-1][0])
        values = np.empty((len(VALUE_COLS), rows), dtype=np.int64)  # column by column, contiguous
        codes = np.empty((rows, 3), dtype=np.int32)
        for i, off in enumerate(offsets):  # moved over block by block, each freed once copied
            r = len(blocks[i][0])
            values[:, off:off + r] = blocks[i][0].T
            codes[off:off + r] = blocks[i][1]
            blocks[i] = None
        del blocks
        for j, c in enumerate(VALUE_COLS):
            data[c] = values[j][take].astype(NUMPY_DTYPES[c], copy=False)
        del values
        codes = codes[take]
        del take
        vocab = pa.array(sorted(self.vocab, key=self.vocab.get), type=pa.large_string())
        string_dtype = pd.StringDtype("pyarrow", na_value=np.nan)

        def strings(c: np.ndarray) -> pd.api.extensions.ExtensionArray:
            return pd.array(pa.DictionaryArray.from_arrays(pa.array(c), vocab).cast(pa.large_string()),
                            dtype=string_dtype)

        data["phase"] = strings(phase_codes)
        for j, c in enumerate(("op", "kind", "kv_tier")):
            data[c] = strings(codes[:, j])
        return pd.DataFrame(data, columns=COLUMN_NAMES, copy=False)  # the columns as they are: no second copy
