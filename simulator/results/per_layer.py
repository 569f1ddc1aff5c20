"""Per-layer reports (``vrex simulate --per-layer FILE.csv``), as SCALE-Sim users expect them: one row per layer
and phase of the accelerator's run (summed over the frames, questions and decode steps that ran it), with its
cycles, the PE array's utilisation and the bytes moved at each memory level."""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.engine.result import SimResult, op_energy_col, op_energy_parts

# columns of the report, in order (units in the names; cycles at the accelerator's clock)
COLUMNS = ("phase", "layer", "instances", "ops", "time_s", "cycles", "compute_s", "memory_s", "pe_utilisation",
           "flops", "dram_bytes", "kv_sram_bytes", "offload_bytes", "noc_bytes", "energy_j")


def per_layer(res: SimResult, events: pd.DataFrame, clock_hz: float, peak_flops: float) -> pd.DataFrame:
    """The per-layer table of a replay (``res.ops`` row-aligned with the trace's ``events``). ``time_s`` is each
    op's time on its unit (the larger of its compute and memory time), summed; ``pe_utilisation`` the achieved
    share of the PE arrays' peak FLOP/s over that time; layer -1 holds the ops outside the decoder layers
    (embedding, LM head, the vision projector)."""
    ops = res.ops
    if ops.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    instance = ops["frame"].astype(np.int64) * 1_000_003 + ops["question"].astype(np.int64) * 1009 + ops["step"]
    energy = ops[[op_energy_col(p) for p in op_energy_parts(ops.columns)]].sum(axis=1) * 1e-12
    df = pd.DataFrame({"phase": ops["phase"].astype(str), "layer": ops["layer"].astype(np.int64),
                       "instance": instance.to_numpy(), "time_s": ops[["compute_s", "mem_s"]].max(axis=1),
                       "compute_s": ops["compute_s"], "memory_s": ops["mem_s"],
                       "flops": (events["flops_matmul"] + events["flops_vector"]).to_numpy(np.float64),
                       "flops_matmul": events["flops_matmul"].to_numpy(np.float64),
                       "dram_bytes": ops["dram_bytes"], "kv_sram_bytes": ops["kv_sram_bytes"],
                       "offload_bytes": ops["offload_bytes"], "noc_bytes": ops["noc_bytes"], "energy_j": energy})
    g = df.groupby(["phase", "layer"], sort=False)
    out = g[["time_s", "compute_s", "memory_s", "flops", "flops_matmul", "dram_bytes", "kv_sram_bytes",
             "offload_bytes", "noc_bytes", "energy_j"]].sum()
    out["instances"] = g["instance"].nunique()
    out["ops"] = g.size()
    out["cycles"] = np.round(out["time_s"] * clock_hz).astype(np.int64)
    busy = out["time_s"].where(out["time_s"] > 0)
    out["pe_utilisation"] = (out["flops_matmul"] / (peak_flops * busy)).fillna(0.0)
    out = out.reset_index()
    return out[list(COLUMNS)]
