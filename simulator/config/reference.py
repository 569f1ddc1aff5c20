"""Print the config reference (Markdown tables) from the schema: ``python -m simulator.config.reference``."""

from __future__ import annotations

from simulator.config.hardware import AcceleratorConfig, GpuConfig
from simulator.config.schema import describe_fields
from simulator.config.workload import ModelConfig, WorkloadConfig


def markdown(cls: type, title: str) -> str:
    out = [f"#### {title}", "", "| key | type | unit | allowed | meaning |", "|---|---|---|---|---|"]
    for key, tp, unit, allowed, doc in describe_fields(cls):
        if key == "model_config":
            continue
        out.append(f"| `{key}` | {tp} | {unit} | {allowed} | {doc} |")
    return "\n".join(out)


if __name__ == "__main__":
    sections = ((AcceleratorConfig, "Accelerator (`kind: accelerator`)"), (GpuConfig, "GPU baseline (`kind: gpu`)"),
                (WorkloadConfig, "Workload"), (ModelConfig, "Model (`workloads/models/*.yaml`)"))
    for cls, title in sections:
        print(markdown(cls, title))
        print()
