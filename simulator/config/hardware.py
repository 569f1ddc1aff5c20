"""Hardware configs: a V-Rex-like accelerator and an Orin-like GPU baseline.

Units are in the field names: ``_mhz``, ``_kb`` (KiB), ``_gb`` (GiB), ``_gbps`` (GB/s, 1e9 bytes/s),
``_ns``, ``_w`` (watts). Physical constants (energy per bit, area per KB) live in the technology
table (``hwconfigs/tech/technology.yaml``), not here; a config only picks the node and DRAM type.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from simulator.config.schema import build, load_yaml, spec
from simulator.errors import ConfigError

PRECISIONS = ("int4", "int8", "fp16", "bf16")
PRECISION_BITS = {"int4": 4, "int8": 8, "fp16": 16, "bf16": 16}
DRAM_TYPES = ("lpddr4x", "lpddr5", "lpddr5x")
TECH_NODES = ("28nm", "16nm", "7nm", "samsung8nm")


@dataclass(frozen=True, kw_only=True)
class DramConfig:
    """Off-chip DRAM: peak bandwidth shared by all channels, a fixed access latency, a capacity."""

    type: str = spec("DRAM standard; selects energy per bit in the tech table", choices=DRAM_TYPES)
    channels: int = spec("independent channels", ge=1)
    bandwidth_gbps: float = spec("peak bandwidth, all channels", unit="GB/s", gt=0)
    efficiency: float = spec("achievable fraction of peak for streaming access", gt=0, le=1, default=0.85)
    latency_ns: float = spec("access latency added once per transfer", unit="ns", ge=0, default=100.0)
    capacity_gb: float = spec("capacity", unit="GiB", gt=0)


@dataclass(frozen=True, kw_only=True)
class HostLinkConfig:
    """Slower tier for offloaded KV (host memory or flash): bandwidth, latency, capacity."""

    bandwidth_gbps: float = spec("link bandwidth", unit="GB/s", gt=0)
    latency_us: float = spec("latency per transfer", unit="us", ge=0, default=10.0)
    capacity_gb: float = spec("capacity", unit="GiB", gt=0)
    energy_pj_per_bit: float = spec("energy per bit moved over the link", unit="pJ/bit", ge=0)


@dataclass(frozen=True, kw_only=True)
class SramConfig:
    """On-chip buffers (KiB each). Weights stream through ``weight_kb`` with double buffering."""

    weight_kb: int = spec("weight buffer", unit="KiB", gt=0)
    activation_kb: int = spec("activation buffer", unit="KiB", gt=0)
    kv_kb: int = spec("KV-cache buffer (hot clusters)", unit="KiB", gt=0)
    banks: int = spec("banks per buffer", ge=1, default=16)
    port_width_bits: int = spec("port width per bank", unit="bits", ge=8, default=128)


@dataclass(frozen=True, kw_only=True)
class PeArrayConfig:
    """Systolic PE array for GEMMs and attention."""

    rows: int = spec("PE rows", ge=1)
    cols: int = spec("PE columns", ge=1)
    dataflow: str = spec("systolic dataflow", choices=("output_stationary", "weight_stationary"))
    precision: str = spec("MAC precision", choices=PRECISIONS)


@dataclass(frozen=True, kw_only=True)
class VectorUnitConfig:
    """SIMD unit for softmax, norms and elementwise ops."""

    lanes: int = spec("parallel lanes", ge=1)
    ops_per_lane_per_cycle: float = spec("element ops per lane per cycle", gt=0, default=1.0)


@dataclass(frozen=True, kw_only=True)
class DreConfig:
    """Dynamic KV-cache retrieval engine: bit-level scoring, early exit, top-k/threshold, clustering."""

    enabled: bool = spec("if false, retrieval scoring runs on the PE array", default=True)
    bit_units: int = spec("bit-level dot-product units", ge=1)
    lanes_per_unit: int = spec("elements per bit-level unit per cycle", ge=1, default=16)
    bits_per_cycle: int = spec("score bits resolved per unit per cycle", ge=1, default=1)
    early_exit: bool = spec("stop scoring candidates that can no longer be selected", default=True)
    early_exit_units: int = spec("bound-checking units", ge=0, default=8)
    topk_per_cycle: int = spec("candidates compared per cycle by the top-k/threshold unit", ge=1, default=8)
    cluster_units: int = spec("similarity units of the clustering unit", ge=1, default=16)


@dataclass(frozen=True, kw_only=True)
class AcceleratorConfig:
    """A V-Rex-like edge accelerator."""

    name: str = spec("config name")
    kind: str = spec("config kind", choices=("accelerator",))
    clock_mhz: float = spec("core clock", unit="MHz", gt=0)
    tech_node: str = spec("process node; selects the tech-table column", choices=TECH_NODES)
    pe_array: PeArrayConfig = spec("PE array")
    vector_unit: VectorUnitConfig = spec("vector / special-function unit")
    sram: SramConfig = spec("on-chip buffers")
    dram: DramConfig = spec("off-chip DRAM")
    dre: DreConfig = spec("retrieval engine")
    host_link: HostLinkConfig = spec("offload tier")
    control_overhead: float = spec("control/NoC share added to area and dynamic energy", ge=0, lt=1, default=0.1)

    @property
    def clock_hz(self) -> float:
        return self.clock_mhz * 1e6


@dataclass(frozen=True, kw_only=True)
class GpuEfficiency:
    """Achieved fraction of peak by kernel class (calibrated; see orin-agx.yaml)."""

    gemm: float = spec("GEMM (prefill) fraction of tensor peak", gt=0, le=1)
    gemv_bandwidth: float = spec("memory-bound kernels: fraction of peak DRAM bandwidth", gt=0, le=1)
    vector: float = spec("elementwise kernels: fraction of CUDA-core peak", gt=0, le=1)
    kernel_launch_us: float = spec("fixed overhead per kernel", unit="us", ge=0)


@dataclass(frozen=True, kw_only=True)
class GpuPower:
    """Board-level power model of the GPU module."""

    mode_w: float = spec("power-mode cap", unit="W", gt=0)
    static_w: float = spec("power at idle in this mode (SoC + DRAM refresh)", unit="W", ge=0)
    pj_per_flop_tensor: float = spec("dynamic energy per tensor-core FLOP", unit="pJ", gt=0)
    pj_per_flop_vector: float = spec("dynamic energy per CUDA-core FLOP", unit="pJ", gt=0)
    l2_pj_per_bit: float = spec("dynamic energy per bit through L2", unit="pJ/bit", ge=0)


@dataclass(frozen=True, kw_only=True)
class GpuConfig:
    """An Orin-like GPU: peak throughput, memory and calibrated efficiency."""

    name: str = spec("config name")
    kind: str = spec("config kind", choices=("gpu",))
    tech_node: str = spec("process node", choices=TECH_NODES)
    sms: int = spec("streaming multiprocessors", ge=1)
    cuda_cores: int = spec("CUDA cores", ge=1)
    tensor_cores: int = spec("tensor cores", ge=1)
    clock_mhz: float = spec("GPU clock", unit="MHz", gt=0)
    tensor_tflops: dict[str, float] = spec("dense tensor-core peak by precision", unit="TFLOP/s")
    fp32_tflops: float = spec("CUDA-core FP32 peak", unit="TFLOP/s", gt=0)
    l2_mb: float = spec("L2 cache", unit="MiB", gt=0)
    dram: DramConfig = spec("off-chip DRAM")
    host_link: HostLinkConfig = spec("offload tier (NVMe / host memory)")
    efficiency: GpuEfficiency = spec("achieved efficiency factors")
    power: GpuPower = spec("power model")
    die_area_mm2: float = spec("die area, for area comparison", unit="mm^2", gt=0)

    def validate(self, source: str, prefix: str) -> None:
        for prec, tflops in self.tensor_tflops.items():
            if prec not in PRECISIONS:
                raise ConfigError(source, f"tensor_tflops.{prec}",
                                  f"unknown precision; allowed: {', '.join(PRECISIONS)}")
            if not tflops > 0:
                raise ConfigError(source, f"tensor_tflops.{prec}", f"got {tflops}; must be a number > 0")


HardwareConfig = AcceleratorConfig | GpuConfig


def load_hardware(path: str | Path) -> HardwareConfig:
    """Load an accelerator or GPU config, choosing the class by its ``kind`` key."""
    data = load_yaml(path)
    source = str(path)
    if not isinstance(data, dict):
        raise ConfigError(source, "<top level>", "must be a mapping")
    kind = data.get("kind")
    if kind == "accelerator":
        return build(AcceleratorConfig, data, source=source)
    if kind == "gpu":
        return build(GpuConfig, data, source=source)
    raise ConfigError(source, "kind", f"got {kind!r}; allowed: 'accelerator', 'gpu'")
