"""The Python API in one script (run by tests/test_api.py): load, override, trace, simulate, run against the
paper's baseline, compare, and a validation error. Run it: ``.venv/bin/python docs/api_example.py``.
``--short`` keeps the stream to 3 s (what the test runs)."""

import dataclasses
import sys

from simulator import api as vrex

short = {"stream.duration_s": 3, "stream.questions": [{"at_s": 2.9, "prompt_tokens": 25, "answer_tokens": 8}]} \
    if "--short" in sys.argv else {}

# configs by shipped name (or path), with dotted-key changes checked like a file
hw = vrex.load_hardware("vrex8-edge")
hw16 = vrex.override(hw, {"cores": 16, "name": "vrex16-edge"})
wl = vrex.load_workload("coin-avg-resv", {"kv_prefill_tokens": 40000, **short})

# the accelerator against the paper's baseline: the Orin 32 GB running FlexGen on the same stream and cache
out = vrex.run(hw16, wl)
stream = out.report.comparison.set_index("phase").loc["stream"]
print(f"{hw16.name} [{out.report.kv_policy}] vs {out.baseline.hardware} [{out.report.baseline_policy}]: "
      f"{stream['speedup']:.2f}x on the whole stream")

# one platform, one trace: per-op results
res = vrex.simulate(vrex.trace(wl), hw)
print(f"{res.hardware}: {len(res.ops):,} ops, status {res.status}")

# several platforms and policies on one stream, ratios against the first
df = vrex.compare(["vrex8-edge", "vrex8-edge:flexgen", "orin-agx-32gb:flexgen"], wl)
print(df[["label", "frame_latency_mean_s", "frame_latency_mean_s_vs_first"]].to_string(index=False))

# configs validate on construction and on replace
try:
    dataclasses.replace(hw, cores=-3)
except vrex.ConfigError as exc:
    print(f"refused: {exc}")
