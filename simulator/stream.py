"""Streaming driver, above the models, the KV policies and the recorder, which it wires together.

Frames arrive at the workload's fps and are prefilled one at a time.

Per frame: vision encoder -> projector -> pooling -> *frame prefill* of the frame's tokens against
the current KV cache (iterative prefill) -> cache update by the KV policy. At each question:
*question prefill* of the prompt, then ``answer_tokens`` *decode* steps; decode step j feeds one
token (step 0 the assistant-turn token that ends the prompt template) and produces answer token j.

Two modes:
- ``meta``: shapes only. One representative layer of each stack is traced per distinct shape and its
  events are replicated over the stack's layers (all layers of a stack have the same shapes); the
  vision encoder is traced once and replicated over frames.
- ``real``: real tensors on CPU through every layer (small models; policies that need values).

Meta mode is *templated* by default (``templated=True``): LLM phases of the same shape (kind, tokens and
the policy's structure) are traced a few times and the others computed in numpy from the policy's meta
plan (see ``simulator.tracer.template``), so tracing cost depends on the number of distinct shapes, not on
the stream's length; the events, KV table and metadata equal the fully traced ones (``templated=False``,
the reference).
"""

from __future__ import annotations

import time
from typing import Iterator

import numpy as np
import pandas as pd
import torch

from simulator.config.workload import WorkloadConfig
from simulator.errors import ConfigError
from simulator.kvpolicy import make_policy
from simulator.kvpolicy.base import CacheSpec
from simulator.models.decoder import DecoderLM
from simulator.models.kv_cache import RecallProbe, plans_own_phases
from simulator.models.vision import VisionTower
from simulator.tracer import context
from simulator.tracer.events import COLUMN_NAMES, NUMPY_DTYPES, SCHEMA_VERSION
from simulator.tracer.recorder import Recorder
from simulator.tracer.synthetic_video import synthetic_frames
from simulator.tracer.template import EventTable, PhaseTemplate, replication_index, rows_to_columns, value_matrix
from simulator.tracer.trace_file import KV_COLUMNS, Trace, TraceChunk


def _replicate_layers(block: pd.DataFrame, groups: list[list[int]]) -> pd.DataFrame:
    """Expand a block traced with one representative layer per group (traced layer g stands for the
    layers ``groups[g]``) to every layer, in layer order."""
    is_layer = (block["layer"] >= 0).to_numpy()
    if not is_layer.any() or all(len(g) == 1 and g[0] == i for i, g in enumerate(groups)):
        return block
    idx = np.flatnonzero(is_layer)
    first, last = idx[0], idx[-1]
    layer_rows = block.iloc[first:last + 1]
    traced = layer_rows["layer"].to_numpy()
    rows_of = [np.flatnonzero(traced == g) for g in range(len(groups))]
    owner = {layer: g for g, members in enumerate(groups) for layer in members}
    n_layers = len(owner)
    take = np.concatenate([rows_of[owner[layer]] for layer in range(n_layers)])
    reps = layer_rows.iloc[take].copy()
    reps["layer"] = np.concatenate([np.full(len(rows_of[owner[layer]]), layer, dtype=np.int16)
                                    for layer in range(n_layers)])
    return pd.concat([block.iloc[:first], reps, block.iloc[last + 1:]], ignore_index=True)


def _question_schedule(wl: WorkloadConfig, n_frames: int) -> dict[int, list[int]]:
    """Questions asked after each frame: frame index -> question indices (frame -1: before any frame,
    which is where every question of a text-only stream goes)."""
    sched: dict[int, list[int]] = {}
    fps = wl.stream.fps
    order = sorted(range(len(wl.stream.questions)), key=lambda i: wl.stream.questions[i].at_s)
    for qi in order:
        at = wl.stream.questions[qi].at_s
        last_frame = min(n_frames - 1, int(np.floor(at * fps + 1e-9)))  # frames with arrival <= at
        sched.setdefault(last_frame, []).append(qi)
    return sched


class StreamTracer:
    """Runs a workload's stream through the models under a :class:`Recorder`."""

    def __init__(self, wl: WorkloadConfig, *, mode: str = "meta", source: str = "<workload>", seed: int = 0,
                 measure_recall: bool = False, templated: bool = True):
        if mode not in ("meta", "real"):
            raise ConfigError(source, "mode", f"got {mode!r}; allowed: 'meta', 'real'")
        self.wl, self.mode, self.seed = wl, mode, seed
        self.templated = templated and mode == "meta"  # real mode always traces real tensors
        self.templates: dict[tuple, PhaseTemplate] = {}
        self.table = EventTable()  # templated: the events, block by block, as numpy columns
        self.m = wl.model_config
        if self.m is None:
            raise ConfigError(source, "model", "workload was built without its model; use load_workload")
        self.policy = make_policy(wl.kv_policy, source=source)
        largest = max([self.m.tokens_per_frame, wl.stream.system_prompt_tokens]
                      + [q.prompt_tokens for q in wl.stream.questions])
        self.policy.check_fits(largest, source=source)
        device = "meta" if mode == "meta" else "cpu"
        self.device, self.dtype = torch.device(device), torch.float32
        torch.manual_seed(seed)
        # meta mode traces one representative LLM layer and replicates it over the stack; a policy that
        # behaves differently per layer (ReSV's per-layer retrieval profile) names groups of layers, one
        # representative traced per group. Real mode traces every layer.
        n_llm = self.m.llm.layers
        if mode == "real":
            self.layer_groups = [[i] for i in range(n_llm)]
        else:
            self.layer_groups = self.policy.meta_trace_groups(n_llm)
        vit_layers = 1 if mode == "meta" else None
        with torch.device(device):
            self.llm = DecoderLM(self.m.llm, n_layers=len(self.layer_groups))
            self.vit = VisionTower(self.m, n_layers=vit_layers) if self.m.vision is not None else None
        if mode == "real":
            self._init_real_weights()
        self.llm.eval()
        if self.vit is not None:
            self.vit.eval()
        s = self.m.llm
        b = wl.batch
        self.caches = [self.policy.make_cache(CacheSpec(b, s.kv_heads, s.head_dim, device, self.dtype, g[0],
                                                        self.m.tokens_per_frame, mode == "real", s.layers,
                                                        wl.precision.bits["kv"], tuple(g)))
                       for g in self.layer_groups]
        if mode == "real" and measure_recall:
            for i, c in enumerate(self.caches):
                c.probe = RecallProbe(i)
        # templated tracing needs every store to plan its phases (see KVCache.meta_plan)
        self.templated = self.templated and all(plans_own_phases(c) for c in self.caches)
        self.rec = Recorder(wl.precision.bits)
        self.rec.register_module(self.llm)
        if self.vit is not None:
            self.rec.register_module(self.vit)
        self.position = 0
        self.blocks: list[pd.DataFrame] = []
        self.kv_rows: list[tuple] = []
        if wl.kv_prefill_tokens:
            if mode != "meta":
                raise ConfigError(source, "kv_prefill_tokens", "a pre-computed KV cache needs --mode meta "
                                  f"(got {wl.kv_prefill_tokens} tokens in {mode} mode)")
            for c in self.caches:
                c.prefill(wl.kv_prefill_tokens, self.m.tokens_per_frame)
            self.position = wl.kv_prefill_tokens
            self._record_kv("kv_prefill", -1, -1, -1)

    def _init_real_weights(self) -> None:
        """Random weights scaled 1/sqrt(fan-in) (variance-preserving), so token features keep their
        differences through the layers and attention logits have O(1) spread; norms start at 1."""
        for mod in (self.llm, self.vit):
            if mod is None:
                continue
            for name, p in mod.named_parameters():
                with torch.no_grad():
                    if p.dim() >= 2:
                        p.normal_(0.0, 1.0 / max(1, p.shape[-1]) ** 0.5)
                    elif "weight" in name:
                        p.fill_(1.0)
                    else:
                        p.zero_()

    # ---- phases ----
    def _take(self, n_layers: int, llm: bool = True):
        rows = self.rec.rows
        self.rec.rows = []
        if self.templated:  # only the vision block comes this way: its columns, one layer traced
            return rows_to_columns(rows)
        if not rows:
            return pd.DataFrame(columns=COLUMN_NAMES)
        block = pd.DataFrame(rows)
        if llm:
            block = _replicate_layers(block, self.layer_groups)
        elif self.mode == "meta":
            block = _replicate_layers(block, [list(range(n_layers))])
        return block

    def _set_phase(self, phase: str, frame: int, question: int, step: int, t: float, tokens: int) -> dict:
        info = {"phase": phase, "frame": frame, "question": question, "step": step, "t_arrival_s": t,
                "tokens": tokens}
        self.rec.phase = info
        for c in self.caches:
            c.begin_phase(info)
        return info

    def _llm_pass(self, x: torch.Tensor, n_tokens: int) -> torch.Tensor:
        positions = np.arange(self.position, self.position + n_tokens)
        self.position += n_tokens
        self.rec.register(x, "activation")
        return self.llm.forward_layers(x, self.caches, positions)

    def _tokens(self, n: int) -> torch.Tensor:
        with context.paused():
            if self.device.type == "meta":
                return torch.empty(self.wl.batch, n, dtype=torch.long, device="meta")
            return torch.randint(0, self.m.llm.vocab, (self.wl.batch, n))

    def _record_kv(self, phase: str, frame: int, question: int, step: int) -> None:
        """Slots held after a phase: layer 0, and summed over all layers (each traced cache counted for the
        layers it stands for)."""
        c = self.caches[0]
        dev_all = sum(len(g) * x.device_slots() for g, x in zip(self.layer_groups, self.caches))
        offload_all = sum(len(g) * x.offload_slots() for g, x in zip(self.layer_groups, self.caches))
        self.kv_rows.append((phase, frame, question, step, c.device_slots(), c.tokens_seen, dev_all, offload_all))

    def run(self, progress: bool = False) -> Trace:
        """The whole stream's trace (one chunk)."""
        (chunk,) = self.chunks(None, progress=progress)
        return Trace(events=chunk.events, meta=self.meta, kv_tokens=chunk.kv_tokens, recall=self.recall_table())

    def chunks(self, frames_per_chunk: int | None, progress: bool = False) -> Iterator[TraceChunk]:
        """The stream's events in chunks of ``frames_per_chunk`` frames (None: one chunk), in stream order:
        a chunk holds its frames' phases and the questions and answers asked after them (the first chunk also
        the system prompt and the questions before any frame), with the KV table's rows of those phases.
        The metadata is :meth:`meta_preview` until the last chunk is out, then complete (``self.meta``).
        Only the current chunk's events are held."""
        if frames_per_chunk is not None and frames_per_chunk < 1:
            raise ConfigError("<chunks>", "frames_per_chunk", f"got {frames_per_chunk}; must be >= 1")
        wl, m = self.wl, self.m
        busy = 0.0  # tracing time, not the consumer's time between chunks
        t0 = time.perf_counter()
        n_frames = wl.stream.frames if m.vision is not None else 0
        sched = _question_schedule(wl, n_frames)
        self._vision_block = None
        frames_iter = None
        if self.mode == "real" and n_frames:
            frames_iter = synthetic_frames(n_frames, m.vision.image_size, seed=self.seed)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=n_frames, desc=f"trace {wl.name}", unit="frame", leave=False)
        with self.rec, context.activate(self.rec), torch.no_grad():
            if wl.stream.system_prompt_tokens:
                n = wl.stream.system_prompt_tokens
                self._llm_phase(("question_prefill", -1, -1, -1, 0.0, n),
                                lambda: self.llm.embed_tokens(self._tokens(n)))
            for qi in sched.get(-1, []):
                self._question(qi, -1)
        for f in range(n_frames):
            # the recorder is active only while tracing: the consumer runs between chunks
            with self.rec, context.activate(self.rec), torch.no_grad():
                self._frame(f, frames_iter, sched)
            if bar is not None:
                bar.update(1)
            if frames_per_chunk is not None and (f + 1) % frames_per_chunk == 0 and f + 1 < n_frames:
                chunk = self._take_chunk()
                busy += time.perf_counter() - t0
                yield chunk
                t0 = time.perf_counter()
        if bar is not None:
            bar.close()
        chunk = self._take_chunk()
        meta = self.meta_preview()
        meta["trace_wall_s"] = busy + time.perf_counter() - t0
        stats: dict[str, float] = {}
        cells: dict[tuple[str, int, int], float] = {}
        for group, c in zip(self.layer_groups, self.caches):
            for key, val in c.policy_stats().items():  # a traced layer stands for every layer of its group
                stats[key] = stats.get(key, 0) + len(group) * val
            for (stat, _, head), val in c.policy_cells().items():
                for layer in group:
                    cells[(stat, layer, head)] = cells.get((stat, layer, head), 0) + val
        meta["policy_stats"] = stats
        meta["policy_cells"] = [{"stat": s, "layer": layer, "head": h, "value": v}
                                for (s, layer, h), v in sorted(cells.items())]
        recall = self.recall_table()
        if recall is not None:
            meta["attention_recall_mean"] = float(recall["recall"].mean())
        self.meta = meta
        yield chunk

    def _frame(self, f: int, frames_iter, sched: dict[int, list[int]]) -> None:
        """Frame ``f``: the vision encoder, its prefill, then the questions asked after it."""
        wl, m = self.wl, self.m
        t = f / wl.stream.fps
        # vision encoder: traced once in meta mode (identical every frame), replicated
        if self.mode == "meta":
            if self._vision_block is None:
                self._set_phase("vision", 0, -1, -1, 0.0, m.vision.patches)
                img = torch.empty(wl.batch, 3, m.vision.image_size, m.vision.image_size, device="meta")
                self._vision(img)
                vision_block = self._take(m.vision.layers, llm=False)
                if self.templated:  # its columns, codes and expansion over the layers, once
                    vision_block = (value_matrix(vision_block), self.table.codes(vision_block),
                                    *replication_index(vision_block["layer"], [list(range(m.vision.layers))]))
                self._vision_block = vision_block
            if self.templated:
                self.table.add(*self._vision_block, {"phase": "vision", "frame": f, "question": -1, "step": -1,
                                                     "t_arrival_s": t, "tokens": m.vision.patches})
            else:
                vb = self._vision_block.copy()
                vb["frame"], vb["t_arrival_s"] = f, t
                self.blocks.append(vb)
            with context.paused():
                tokens = torch.empty(wl.batch, m.tokens_per_frame, m.llm.hidden, device="meta")
        else:
            self._set_phase("vision", f, -1, -1, t, m.vision.patches)
            with context.paused():
                img = next(frames_iter).unsqueeze(0).expand(wl.batch, -1, -1, -1).contiguous()
            tokens = self._vision(img)
            self.blocks.append(self._take(m.vision.layers, llm=False))
        self._llm_phase(("frame_prefill", f, -1, -1, t, m.tokens_per_frame), lambda: tokens)
        self._record_kv("frame_prefill", f, -1, -1)
        for qi in sched.get(f, []):
            self._question(qi, f)

    def _take_chunk(self) -> TraceChunk:
        """The events and KV rows recorded since the last chunk (then forgotten)."""
        if self.templated:
            events = self.table.frame()
        else:
            events = pd.concat(self.blocks, ignore_index=True) if self.blocks else pd.DataFrame(columns=COLUMN_NAMES)
            events = events[COLUMN_NAMES].astype(NUMPY_DTYPES)
            self.blocks = []
        kv = pd.DataFrame(self.kv_rows, columns=KV_COLUMNS)
        self.kv_rows = []
        return TraceChunk(events=events, kv_tokens=kv)

    def meta_preview(self) -> dict:
        """The trace metadata known before tracing (every key the engines read); the policy's statistics and
        the tracing time come with the last chunk (``self.meta``)."""
        wl, m = self.wl, self.m
        n_frames = wl.stream.frames if m.vision is not None else 0
        return {
            "schema_version": SCHEMA_VERSION,
            "workload": wl.name,
            "model": m.name,
            "mode": self.mode,
            "kv_policy": wl.kv_policy.name,
            "kv_policy_params": self.policy.hyperparameters(),  # every one, as resolved (not only those set)
            "kv_transfer": self.policy.transfer(),
            "hw_contract": self.policy.hardware_contract(),
            "fps": wl.stream.fps,
            "frames": n_frames,
            "questions": [{"at_s": q.at_s, "prompt_tokens": q.prompt_tokens, "answer_tokens": q.answer_tokens}
                          for q in wl.stream.questions],
            "tokens_per_frame": m.tokens_per_frame,
            "llm_layers": m.llm.layers,
            "vision_layers": m.vision.layers if m.vision is not None else 0,
            "kv_heads": m.llm.kv_heads,
            "head_dim": m.llm.head_dim,
            "batch": wl.batch,
            "precision_bits": wl.precision.bits,
            "precision": {"weights": wl.precision.weights, "activations": wl.precision.activations,
                          "kv": wl.precision.kv},
            "kv_bits_stored": self.policy.stored_bits(wl.precision.bits["kv"]),
            "kv_prefill_tokens": wl.kv_prefill_tokens,
            "weight_bytes_llm": _param_bytes(m, wl.precision.bits["weight"]),
            "weight_bytes_vision": _vision_param_bytes(m, wl.precision.bits["weight"]),
            "trace_wall_s": 0.0,
        }

    def recall_table(self) -> pd.DataFrame | None:
        """Attention-mass recall per (phase, layer, KV head) measured by the probes (real mode)."""
        rows = [r for c in self.caches if c.probe is not None for r in c.probe.rows]
        if not rows:
            return None
        return pd.DataFrame(rows, columns=["phase", "frame", "question", "step", "layer", "head", "recall",
                                           "attended", "tokens"])

    def _vision(self, img: torch.Tensor) -> torch.Tensor:
        self.rec.register(img, "activation")
        x = self.vit.embed(img)
        x = self.vit.forward_layers(x)
        return self.vit.head(x)

    def _question(self, qi: int, frame: int) -> None:
        q = self.wl.stream.questions[qi]
        self._llm_phase(("question_prefill", frame, qi, -1, q.at_s, q.prompt_tokens),
                        lambda: self.llm.embed_tokens(self._tokens(q.prompt_tokens)))
        self._record_kv("question_prefill", frame, qi, -1)
        for j in range(q.answer_tokens):
            self._llm_phase(("decode", frame, qi, j, q.at_s, 1), lambda: self.llm.embed_tokens(self._tokens(1)),
                            decode=True)
        self._record_kv("decode", frame, qi, q.answer_tokens - 1)

    def _llm_phase(self, phase: tuple, make_input, decode: bool = False) -> None:
        """One LLM pass (phase, frame, question, step, arrival time, tokens) over the input ``make_input()``
        gives; a decode step ends with the LM head. Templated: computed from the phase's template when it
        can predict it (see ``simulator.tracer.template``), else traced and learnt from."""
        info = self._set_phase(*phase)
        n = info["tokens"]
        if not self.templated:
            h = self._llm_pass(make_input(), n)
            if decode:
                self.llm.logits_last(h)
            self.blocks.append(self._take(self.m.llm.layers))
            return
        q_group = self.m.llm.heads // self.m.llm.kv_heads
        plans = [c.meta_plan(n, q_group) for c in self.caches]
        params = [p.params for p in plans]
        key = (info["phase"], n, decode, tuple(p.struct for p in plans))
        tpl = self.templates.get(key)
        values = tpl.predict(params) if tpl is not None and tpl.verified else None
        if values is not None:
            for p in plans:
                p.apply()
            self.position += n
            tpl.generated += 1
            self.table.add(values, tpl.codes, tpl.take, tpl.out_layer, info)
            return
        h = self._llm_pass(make_input(), n)
        if decode:
            self.llm.logits_last(h)
        cols = rows_to_columns(self.rec.rows)
        self.rec.rows = []
        if tpl is None:
            self.templates[key] = PhaseTemplate(cols, params, self.layer_groups, self.table)
        else:
            tpl.observe(cols, params)
        self.table.add_traced(cols, self.layer_groups, info)

    def template_stats(self) -> dict[str, int]:
        """Templated tracing: phase shapes, LLM phases traced and computed, shapes that had to be traced."""
        t = self.templates.values()
        return {"shapes": len(self.templates), "traced": sum(x.traced for x in t),
                "generated": sum(x.generated for x in t), "untemplated_shapes": sum(x.broken for x in t)}


def _param_bytes(m, bits: int) -> int:
    """Closed-form LLM weight bytes (all layers, embedding excluded, LM head included)."""
    s = m.llm
    attn = s.hidden * (s.heads + 2 * s.kv_heads) * s.head_dim + s.heads * s.head_dim * s.hidden
    mlp = (3 if s.mlp == "swiglu" else 2) * s.hidden * s.ffn
    bias = (s.heads + 2 * s.kv_heads) * s.head_dim if s.qkv_bias else 0
    per_layer = attn + bias + mlp + 2 * s.hidden
    return (s.layers * per_layer + s.vocab * s.hidden + s.hidden) * bits // 8


def _vision_param_bytes(m, bits: int) -> int:
    """Closed-form vision tower + projector weight bytes (0 for a text-only model)."""
    v = m.vision
    if v is None:
        return 0
    layer = 4 * (v.hidden * v.hidden + v.hidden) + 2 * v.hidden * v.ffn + v.ffn + v.hidden + 4 * v.hidden
    embed = 3 * v.patch_size**2 * v.hidden + v.hidden + v.patches * v.hidden
    proj = v.hidden * m.llm.hidden + m.llm.hidden
    if v.projector == "mlp2x_gelu":
        proj += m.llm.hidden * m.llm.hidden + m.llm.hidden
    return (v.layers * layer + embed + 2 * v.hidden + proj) * bits // 8


def trace_workload(wl: WorkloadConfig, *, mode: str = "meta", progress: bool = False, seed: int = 0,
                   source: str = "<workload>", measure_recall: bool = False, templated: bool = True) -> Trace:
    """Trace a workload's whole stream; see the module docstring for the modes (``templated``: meta mode only)."""
    return StreamTracer(wl, mode=mode, source=source, seed=seed, measure_recall=measure_recall,
                        templated=templated).run(progress=progress)
