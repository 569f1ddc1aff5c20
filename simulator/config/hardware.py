"""Hardware configs: a V-Rex-like accelerator and a GPU baseline (the Jetson AGX Orin boards, the A100).

Units are in the field names: ``_mhz``, ``_kb`` (KiB), ``_gb`` (GiB), ``_gbps`` (GB/s, 1e9 bytes/s),
``_ns``, ``_w`` (watts). Physical constants (energy per bit, area per KB) live in the technology
table (``hwconfigs/tech/technology.yaml``), not here; a config only picks the node and DRAM type.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from simulator.config.schema import Validated, build, load_yaml, spec
from simulator.errors import ConfigError

PRECISIONS = ("int4", "int8", "fp16", "bf16")
PRECISION_BITS = {"int4": 4, "int8": 8, "fp16": 16, "bf16": 16}
DRAM_TYPES = ("lpddr4x", "lpddr5", "lpddr5x", "hbm2e", "ddr4")
TECH_NODES = ("28nm", "16nm", "14nm", "7nm", "samsung8nm")
OFFLOAD_TIERS = ("ssd", "host_memory")

# Upper limits and why (the README's "Errors and limits" lists them). Values beyond them describe no
# buildable chip and make the model's time or memory blow up (e.g. the multi-core split search is linear
# in the core count; a 1e26-core chip never finishes it).
WHY_CLOCK = "10 GHz: no CMOS logic clocks higher; lower than 1 MHz gives frame times of hours"
WHY_CORES = "4096: 85x the 48-core V-Rex server; the split search visits every core count"
WHY_MACS = "the largest dies hold about 1M MACs; this leaves 16x headroom"
WHY_PE = "4096: 32x a TPU MXU side (128); beyond it a core is larger than a reticle"
WHY_LANES = "65536: 64x a GPU SM's lanes; more does not fit a core"
WHY_SRAM = "1 GiB per buffer (1048576 KiB): more SRAM than any die holds"
WHY_BW = "100000 GB/s: 30x an HBM3e GPU; no memory system is faster"
WHY_CAP = "16384 GiB (16 TiB): more than the largest servers' memory"
WHY_OFFLOAD_CAP = "1048576 GiB (1 PiB): more than any SSD array behind one PCIe link"
WHY_LAT = "1 s: a memory or link this slow is no memory"
WHY_POWER = "10 kW: more than a rack of accelerators"
WHY_UNITS = "65536 per core: 64x the V-Rex DRE's units"
WHY_AREA = "100000 mm^2: twice a whole 300 mm wafer's usable area"
WHY_TFLOPS = "100000 TFLOP/s (100 PFLOP/s): 50x the fastest GPU"
WHY_PJ = "1e6 pJ: a million times today's energy per operation"
# PCIe data rate per lane and direction after line coding, GB/s (PCI-SIG base specs: 3.0 = 8 GT/s,
# 4.0 = 16 GT/s, 5.0 = 32 GT/s, all 128b/130b): 8e9 * 128/130 / 8 = 0.985 GB/s for 3.0.
PCIE_GBPS_PER_LANE = {3: 8 * 128 / 130 / 8, 4: 16 * 128 / 130 / 8, 5: 32 * 128 / 130 / 8}


@dataclass(frozen=True, kw_only=True)
class DramConfig(Validated):
    """Off-chip DRAM: peak bandwidth of all its channels together (interleaved: one stream sees all of it), a
    fixed access latency, a capacity."""

    type: str = spec("DRAM standard; selects energy per bit in the tech table", choices=DRAM_TYPES)
    bandwidth_gbps: float = spec("peak bandwidth, all channels", unit="GB/s", ge=0.01, le=100_000, why=WHY_BW)
    efficiency: float = spec("achievable fraction of peak for streaming access", gt=0, le=1, default=0.85)
    latency_ns: float = spec("access latency added once per transfer", unit="ns", ge=0, default=100.0, le=1e9,
                             why=WHY_LAT)
    capacity_gib: float = spec("capacity", unit="GiB", gt=0, le=16384, why=WHY_CAP)


@dataclass(frozen=True, kw_only=True)
class PcieLinkConfig(Validated):
    """The link between the device and its offload tier."""

    gen: int = spec("PCIe generation; sets the per-lane rate (3: 0.985, 4: 1.969, 5: 3.938 GB/s)", ge=3, le=5)
    lanes: int = spec("lanes", choices=(1, 2, 4, 8, 16))
    efficiency: float = spec("achieved fraction of the raw lane rate for data moving from the tier to the device "
                             "(reads); measured values in `make calibrate` (analysis/calibrate/links.py)", gt=0,
                             le=1, default=1.0)
    write_efficiency: float | None = spec("the same for data moving from the device to the tier (writes); "
                                          "none: as efficiency", gt=0, le=1, default=None)
    setup_us: float = spec("fixed cost per transfer that does not overlap the next (a cudaMemcpyAsync call and "
                           "its copy-engine start); 0 for hardware DMA descriptors", unit="us", ge=0, default=0.0,
                           le=1e6, why=WHY_LAT)
    host_buffers: str = spec("host memory behind host-memory copies: pinned (page-locked, DMA directly) or "
                             "pageable (staged through a pinned bounce buffer)", choices=("pinned", "pageable"),
                             default="pinned")
    staging_read_gbps: float = spec("pageable buffers only: rate of staging data on the host for reads "
                                    "(in series with the link)", unit="GB/s", ge=0, default=0.0, le=100_000,
                                    why=WHY_BW)
    staging_write_gbps: float = spec("pageable buffers only: the same for writes", unit="GB/s", ge=0, default=0.0,
                                     le=100_000, why=WHY_BW)
    w_per_lane: float = spec("power per lane while transferring at full load", unit="W", ge=0, le=100,
                             why="100 W per lane: 100x a PCIe PHY")
    w_per_lane_gen: int | None = spec("PCIe generation at which w_per_lane is stated (none: the link's own); at "
                                      "another generation the PHY's power moves with the lane rate "
                                      "(engine/physical/io.py)", ge=3, le=5, default=None)
    power_scaling: str = spec("how the per-lane power moves away from w_per_lane_gen: phy (only the PHY's share, "
                              "technology table pcie_phy_pj_per_bit) or rate (all of it, with the lane rate)",
                              choices=("phy", "rate"), default="phy")

    @property
    def raw_bytes_per_s(self) -> float:
        return PCIE_GBPS_PER_LANE[self.gen] * 1e9 * self.lanes

    @property
    def bytes_per_s(self) -> float:
        """Achieved read rate (tier to device)."""
        return self.raw_bytes_per_s * self.efficiency

    @property
    def write_bytes_per_s(self) -> float:
        return self.raw_bytes_per_s * (self.efficiency if self.write_efficiency is None else self.write_efficiency)


@dataclass(frozen=True, kw_only=True)
class OffloadDeviceConfig(Validated):
    """The memory behind the link: an NVMe SSD or host DRAM."""

    read_gbps: float = spec("sequential read bandwidth of the device", unit="GB/s", ge=0.001, le=100_000, why=WHY_BW)
    write_gbps: float = spec("sequential write bandwidth of the device", unit="GB/s", ge=0.001, le=100_000,
                             why=WHY_BW)
    read_latency_us: float = spec("latency of one read request (command to first data)", unit="us", ge=0,
                                  le=1e6, why=WHY_LAT)
    write_latency_us: float = spec("latency of one write request", unit="us", ge=0, le=1e6, why=WHY_LAT)
    queue_depth: int = spec("requests in flight at once", ge=1, le=65536,
                            why="65536: the NVMe maximum queue depth")
    max_request_kb: int = spec("largest single request; longer runs are split", unit="KiB", ge=1, le=1 << 20,
                               why="1 GiB (1048576 KiB): larger than any transfer the model issues")
    page_kb: int = spec("SSDs: flash page; a read costs whole pages in the flash (a 512-byte read costs a page) "
                        "and whole 4 KiB blocks on the link; used with parallel_units", unit="KiB", ge=0, default=0,
                        le=1024, why="1 MiB: 64x today's largest flash pages")
    parallel_units: int = spec("SSDs: flash units (dies/planes over channels) that read pages in parallel, each "
                               "taking read_latency_us per page; 0: the latency/queue-depth model only (host "
                               "memory)", ge=0, default=0, le=65536, why="65536: 64x a 1024-die enterprise drive")
    active_read_w: float = spec("device power while reading at full bandwidth", unit="W", ge=0, le=10_000,
                                why=WHY_POWER)
    active_write_w: float = spec("device power while writing at full bandwidth", unit="W", ge=0, le=10_000,
                                 why=WHY_POWER)
    idle_w: float = spec("device power when idle (charged over the whole run)", unit="W", ge=0, le=10_000,
                         why=WHY_POWER)


@dataclass(frozen=True, kw_only=True)
class OffloadConfig(Validated):
    """Offload tier for KV that does not stay in device DRAM: an SSD or host memory behind PCIe."""

    tier: str = spec("kind of offload memory", choices=OFFLOAD_TIERS)
    capacity_gib: float = spec("capacity available for KV", unit="GiB", gt=0, le=1 << 20, why=WHY_OFFLOAD_CAP)
    link: PcieLinkConfig = spec("PCIe link to the tier")
    device: OffloadDeviceConfig = spec("the SSD or host memory itself")

    def validate(self, source: str, prefix: str) -> None:
        if self.device.max_request_kb * 1024 > self.capacity_gib * 2**30:
            raise ConfigError(source, f"{prefix}.device.max_request_kb",
                              f"{self.device.max_request_kb} KiB is larger than the tier's capacity "
                              f"({self.capacity_gib:g} GiB); a request must fit the device")


@dataclass(frozen=True, kw_only=True)
class NocConfig(Validated):
    """On-chip interconnect between cores (exchange of partial outputs after a split op)."""

    bandwidth_gbps: float = spec("bandwidth each core can send and receive", unit="GB/s", ge=0.01, le=100_000,
                                 why=WHY_BW)
    latency_ns: float = spec("latency of one synchronisation (barrier + first flit)", unit="ns", ge=0, le=1e9,
                             why=WHY_LAT)


@dataclass(frozen=True, kw_only=True)
class SramConfig(Validated):
    """On-chip buffers (KiB each). Weights stream through ``weight_kb`` with double buffering."""

    weight_kb: int = spec("weight buffer", unit="KiB", gt=0, le=1 << 20, why=WHY_SRAM)
    activation_kb: int = spec("activation buffer", unit="KiB", gt=0, le=1 << 20, why=WHY_SRAM)
    kv_kb: int = spec("KV-cache buffer (hot clusters)", unit="KiB", gt=0, le=1 << 20, why=WHY_SRAM)
    banks: int = spec("banks per buffer", ge=1, default=16, le=4096,
                      why="4096: one bank per 256 B of a 1 MiB buffer")
    port_width_bits: int = spec("port width per bank", unit="bits", ge=8, default=128, le=8192,
                                why="8192 bits: 16x the widest SRAM macro port")
    total_kb: int | None = spec("SRAM per core stated by the design's source (optional); the three buffers must "
                                "fit in it", unit="KiB", gt=0, le=3 << 20, default=None, why=WHY_SRAM)

    def validate(self, source: str, prefix: str) -> None:
        split = self.weight_kb + self.activation_kb + self.kv_kb
        if self.total_kb is not None and split > self.total_kb:
            raise ConfigError(source, f"{prefix}.total_kb", f"the buffers add up to {split} KiB (weight_kb + "
                              f"activation_kb + kv_kb), more than the stated total {self.total_kb} KiB")


@dataclass(frozen=True, kw_only=True)
class PeArrayConfig(Validated):
    """Matrix engine of one core: a systolic array or MAC trees (the LPU/V-Rex DPE)."""

    kind: str = spec("matrix engine", choices=("systolic", "mac_tree"), default="systolic")
    rows: int | None = spec("systolic: PE rows", ge=1, default=None, le=4096, why=WHY_PE)
    cols: int | None = spec("systolic: PE columns", ge=1, default=None, le=4096, why=WHY_PE)
    dataflow: str | None = spec("systolic: dataflow", choices=("output_stationary", "weight_stationary"),
                                default=None)
    trees: int | None = spec("mac_tree: MAC trees working in parallel (one output column each)", ge=1, default=None,
                             le=4096, why=WHY_PE)
    tree_inputs: int | None = spec("mac_tree: products reduced by one tree per cycle", ge=2, default=None,
                                   le=4096, why=WHY_PE)
    precision: str = spec("MAC precision", choices=PRECISIONS)

    def validate(self, source: str, prefix: str) -> None:
        need = {"systolic": ("rows", "cols", "dataflow"), "mac_tree": ("trees", "tree_inputs")}[self.kind]
        other = {"systolic": ("trees", "tree_inputs"), "mac_tree": ("rows", "cols", "dataflow")}[self.kind]
        for name in need:
            if getattr(self, name) is None:
                raise ConfigError(source, f"{prefix}.{name}", f"missing; required when kind is '{self.kind}'")
        for name in other:
            if getattr(self, name) is not None:
                raise ConfigError(source, f"{prefix}.{name}", f"not used when kind is '{self.kind}'; "
                                  f"allowed here: kind, {', '.join(need)}, precision")

    @property
    def macs(self) -> int:
        return self.rows * self.cols if self.kind == "systolic" else self.trees * self.tree_inputs


@dataclass(frozen=True, kw_only=True)
class VectorUnitConfig(Validated):
    """SIMD unit for softmax, norms and elementwise ops."""

    lanes: int = spec("parallel lanes", ge=1, le=65536, why=WHY_LANES)
    ops_per_lane_per_cycle: float = spec("element ops per lane per cycle", gt=0, default=1.0, le=64,
                                         why="64: a lane is one ALU; 64 is a whole SIMD word per cycle")


OFFLOAD_LAYOUTS = ("head_rows", "token_rows")


@dataclass(frozen=True, kw_only=True)
class DreConfig(Validated):
    """Dynamic KV retrieval engine of one core (V-Rex): KVPU (HCU + WTU) and KVMU."""

    enabled: bool = spec("if false, clustering and WiCSum selection run on the vector unit", default=True)
    hash_bits: int = spec("hash-code width N_hp the HCU compares", ge=1, le=64, default=32)
    hcu_units: int = spec("HCU XOR-accumulators: Hamming distances per cycle", ge=1, le=65536, why=WHY_UNITS)
    wtu_cores: int = spec("WTU cores (one query row at a time each)", ge=1, le=65536, why=WHY_UNITS)
    wtu_lanes: int = spec("scores one WTU core bins, weights and accumulates per cycle", ge=1, le=65536,
                          why=WHY_UNITS)
    wtu_buckets: int = spec("(open) score buckets of each WTU core's bucket sorters (V-Rex gives the sorter, "
                            "not its size)", ge=1, le=65536, default=16, why=WHY_UNITS)
    early_exit: bool = spec("WTU stops walking buckets once the WiCSum threshold is passed", default=True)
    kvmu: bool = spec("KVMU cluster-wise layout: one offload request per contiguous cluster run "
                      "(false: tokens in arrival order, one request per contiguous token run)", default=True)
    prefetch: bool = spec("next-layer prediction and KV prefetch overlap the current layer", default=True)
    prefetch_layers: int = spec("(open) layers ahead the prediction and KV prefetch are issued (the paper: the next "
                                "layer's while a layer runs, i.e. 1; more lets a fetch span several layers' "
                                "compute)", ge=1, le=8, default=1, why="8: a quarter of Llama-3-8B's 32 layers")
    offload_layout: str = spec("(open) how KV sits on the offload tier: head_rows (a row per layer and KV head, its "
                               "tokens one after another: the HC table's per-head clusters stay contiguous) or "
                               "token_rows (a row per token holding every KV head, as a PyTorch [tokens, heads, "
                               "dim] cache stores it); see kvmu.py", choices=OFFLOAD_LAYOUTS, default="head_rows")
    merge_requests: bool = spec("(open) the KVMU merges reads of adjacent addresses into one request (false: one "
                                "request per token of a KV head)", default=True)
    sram_kb: float = spec("DRE SRAM (hash bits, scores, token counts)", unit="KiB", ge=0.125, le=1 << 20, why=WHY_SRAM)


@dataclass(frozen=True, kw_only=True)
class AcceleratorConfig(Validated):
    """A V-Rex-like accelerator: ``cores`` identical cores sharing DRAM and the offload tier.

    ``pe_array``, ``vector_unit``, ``sram`` and ``dre`` describe one core.
    """

    name: str = spec("config name")
    kind: str = spec("config kind", choices=("accelerator",))
    clock_mhz: float = spec("core clock", unit="MHz", ge=1, le=10_000, why=WHY_CLOCK)
    tech_node: str = spec("process node; selects the tech-table column", choices=TECH_NODES)
    cores: int = spec("identical cores; ops are split across them", ge=1, default=1, le=4096, why=WHY_CORES)
    pe_array: PeArrayConfig = spec("matrix engine (per core)")
    vector_unit: VectorUnitConfig = spec("vector / special-function unit (per core)")
    sram: SramConfig = spec("on-chip buffers (per core)")
    dram: DramConfig = spec("off-chip DRAM (shared)")
    dre: DreConfig = spec("retrieval engine (per core)")
    offload: OffloadConfig | None = spec("offload tier for KV (shared); none: KV that outgrows DRAM is out of "
                                         "memory", default=None)
    noc: NocConfig | None = spec("on-chip interconnect; required when cores > 1", default=None)
    control_overhead: float = spec("control/NoC share added to area and dynamic energy", ge=0, lt=1, default=0.1)

    def validate(self, source: str, prefix: str) -> None:
        if self.cores > 1 and self.noc is None:
            raise ConfigError(source, "noc", f"missing; required when cores is {self.cores} (> 1)")
        macs = self.cores * self.pe_array.macs
        if macs > MAX_CHIP_MACS:
            raise ConfigError(source, "pe_array", f"{self.cores} cores x {self.pe_array.macs} MACs = {macs:,} MACs; "
                              f"a chip has at most {MAX_CHIP_MACS:,} ({WHY_MACS})")

    @property
    def clock_hz(self) -> float:
        return self.clock_mhz * 1e6


GPU_PRECISIONS = ("fp16", "bf16", "w4a16", "int8")
# The software stacks a GPU config can run, each with its own fitted efficiencies (``make calibrate``):
# hf-pytorch: eager PyTorch / Hugging Face transformers kernels (what FlexGen, InfiniGen and ReKV are written in,
# and TinyChat); tensorrt-llm: compiled engines with fused kernels (TensorRT-LLM, TensorRT Edge-LLM; MLC LLM's
# compiled TVM kernels are checked against it as a held-out runtime).
SOFTWARE_STACKS = ("hf-pytorch", "tensorrt-llm")
MAX_CHIP_MACS = 1 << 24


@dataclass(frozen=True, kw_only=True)
class PrecisionEfficiency(Validated):
    """What a GPU's kernels achieve at one precision (fitted by ``make calibrate`` where measurements exist).

    A kernel's time is ``max(compute, memory) + dequantisation + launch``: compute at ``gemm`` of the tensor
    peak with its rows padded to whole tiles, memory at ``bandwidth`` of the DRAM peak.
    """

    bandwidth: float = spec("memory-bound kernels: fraction of peak DRAM bandwidth", gt=0, le=1)
    gemm: float = spec("matrix kernels: fraction of the tensor peak on whole tiles", gt=0, le=1)
    gemm_tile_rows: int = spec("a GEMM's rows (tokens) are padded to a multiple of this (tile quantisation) "
                               "when it has more than gemv_max_rows", unit="rows", ge=1, le=4096,
                               why="4096: 16x the largest GPU GEMM tile")
    dequant_ps_per_weight: float = spec("weight-only formats: time to unpack one weight element (once in a "
                                        "GEMV kernel, once per row tile in a GEMM), not overlapped",
                                        unit="ps", ge=0, default=0.0, le=1e6,
                                        why="1 us per weight: a 7B model would take 2 hours per pass")


@dataclass(frozen=True, kw_only=True)
class GpuEfficiency(Validated):
    """Achieved fractions of peak, per precision (see orin-agx-64gb.yaml and ``make calibrate``).

    A kernel runs at its weights' format (``w4a16`` for 4-bit weights with 16-bit activations, ``int8``
    for 8-bit weights) or, without weights (attention, element-wise, KV moves), at the activations'
    format (``fp16`` / ``bf16``).
    """

    fp16: PrecisionEfficiency = spec("FP16 weights and activations")
    bf16: PrecisionEfficiency = spec("BF16 weights and activations")
    w4a16: PrecisionEfficiency = spec("4-bit weights (weight-only, e.g. AWQ), 16-bit activations")
    int8: PrecisionEfficiency = spec("8-bit weights and activations (W8A8)")
    gemv_max_rows: int = spec("matrix kernels with at most this many rows run as GEMV kernels (no tile "
                              "padding)", unit="rows", ge=0, le=1 << 20,
                              why="1M rows: more tokens than any kernel processes")
    vector: float = spec("elementwise kernels: fraction of CUDA-core peak", gt=0, le=1)
    kernel_launch_us: float = spec("fixed overhead per kernel", unit="us", ge=0, le=1e6, why=WHY_LAT)

    def at(self, precision: str) -> PrecisionEfficiency:
        return getattr(self, precision)


@dataclass(frozen=True, kw_only=True)
class GpuPower(Validated):
    """Board-level power model of the GPU module."""

    mode_w: float = spec("power-mode cap", unit="W", gt=0, le=10_000, why=WHY_POWER)
    static_w: float = spec("power at idle in this mode (SoC + DRAM refresh)", unit="W", ge=0, le=10_000,
                           why=WHY_POWER)
    busy_w: float = spec("extra power while a kernel runs (clocks, schedulers, SMs issuing), over static_w; "
                         "charged over each kernel's time", unit="W", ge=0, le=10_000, why=WHY_POWER)
    pj_per_flop_tensor: float = spec("dynamic energy per tensor-core FLOP", unit="pJ", gt=0, le=1e6, why=WHY_PJ)
    pj_per_flop_vector: float = spec("dynamic energy per CUDA-core FLOP", unit="pJ", gt=0, le=1e6, why=WHY_PJ)
    l2_pj_per_bit: float = spec("dynamic energy per bit through L2", unit="pJ/bit", ge=0, le=1e6, why=WHY_PJ)

    def validate(self, source: str, prefix: str) -> None:
        if not self.static_w < self.mode_w:
            raise ConfigError(source, f"{prefix}.static_w", f"{self.static_w:g} W must be below the power mode "
                              f"mode_w ({self.mode_w:g} W): idle power leaves no power for work")
        if not self.static_w + self.busy_w < self.mode_w:
            raise ConfigError(source, f"{prefix}.busy_w", f"static_w + busy_w ({self.static_w + self.busy_w:g} W) "
                              f"must be below the power mode mode_w ({self.mode_w:g} W): a running kernel would "
                              "leave no power for its work")


@dataclass(frozen=True, kw_only=True)
class GpuConfig(Validated):
    """A GPU (an Orin board, an A100, any other): peak throughput, memory and calibrated efficiency."""

    name: str = spec("config name")
    kind: str = spec("config kind", choices=("gpu",))
    tech_node: str = spec("process node", choices=TECH_NODES)
    sms: int = spec("streaming multiprocessors", ge=1, le=4096, why="4096: 30x the largest GPU's SMs")
    cuda_cores: int = spec("CUDA cores", ge=1, le=1 << 20, why="1M: 60x the largest GPU's CUDA cores")
    tensor_cores: int = spec("tensor cores", ge=1, le=65536, why="65536: 100x the largest GPU's tensor cores")
    clock_mhz: float = spec("GPU clock", unit="MHz", ge=1, le=10_000, why=WHY_CLOCK)
    tensor_tflops: dict[str, float] = spec("dense tensor-core peak by precision (fp16 or bf16 required)",
                                           unit="TFLOP/s")
    fp32_tflops: float = spec("CUDA-core FP32 peak", unit="TFLOP/s", ge=0.001, le=100_000, why=WHY_TFLOPS)
    l2_mb: float = spec("L2 cache", unit="MiB", gt=0, le=1 << 20, why="1 TiB: more than any cache")
    dram: DramConfig = spec("off-chip DRAM")
    offload: OffloadConfig | None = spec("offload tier for KV (NVMe SSD / host memory); none: KV that outgrows "
                                         "DRAM is out of memory", default=None)
    # The stack is named beside its efficiencies, which sit per stack in the one config (not one file per stack):
    # a sweep or the CLI switches stacks with one key (``baseline.software`` / ``--software``) on the same
    # hardware, and the hardware numbers (peaks, DRAM, offload, power) are written once.
    software: str = spec("the software stack the GPU runs; its efficiencies are efficiency.<stack>",
                         choices=SOFTWARE_STACKS)
    efficiency: dict[str, GpuEfficiency] = spec("achieved efficiency factors per software stack (keys: "
                                                + ", ".join(SOFTWARE_STACKS) + ")", choices=SOFTWARE_STACKS)
    power: GpuPower = spec("power model")
    die_area_mm2: float = spec("die area, for area comparison", unit="mm^2", gt=0, le=100_000, why=WHY_AREA)
    resv_launches: str = spec(
        "how ReSV in software launches its per-layer kernels (hash projection, Hamming clustering, HC-table "
        "update): per_kv_head, a PyTorch loop over KV heads (each head's cluster table has its own size, so an "
        "eager implementation cannot batch them; ours, as no ReSV code is public), or per_layer, one batched "
        "launch each; scoring, WiCSum and the KV gather are per head in the trace either way",
        choices=("per_layer", "per_kv_head"), default="per_kv_head")

    @property
    def stack(self) -> GpuEfficiency:
        """The efficiencies of the stack the config runs (``software``)."""
        return self.efficiency[self.software]

    def with_software(self, software: str, source: str = "software") -> "GpuConfig":
        """The same GPU running another stack (a one-line error for a stack the config has no efficiencies for)."""
        from dataclasses import replace

        check = replace(self, software=software)
        check.validate(source, "")
        return check

    def validate(self, source: str, prefix: str) -> None:
        if self.software not in SOFTWARE_STACKS:
            raise ConfigError(source, "software", f"got {self.software!r}; allowed: {', '.join(SOFTWARE_STACKS)}")
        if self.software not in self.efficiency:
            have = ", ".join(self.efficiency) or "none"
            raise ConfigError(source, "software", f"got {self.software!r}, but the config has efficiencies only for: "
                                                  f"{have} (add efficiency.{self.software})")
        if not ({"fp16", "bf16"} & set(self.tensor_tflops)):
            got = ", ".join(self.tensor_tflops) or "nothing"
            raise ConfigError(source, "tensor_tflops", f"got {got}; must give the fp16 or bf16 peak (attention "
                                                       "and element-wise kernels run at 16 bits)")
        for prec, tflops in self.tensor_tflops.items():
            if prec not in PRECISIONS:
                raise ConfigError(source, f"tensor_tflops.{prec}",
                                  f"unknown precision; allowed: {', '.join(PRECISIONS)}")
            if not 0 < tflops <= 100_000:
                raise ConfigError(source, f"tensor_tflops.{prec}", f"got {tflops}; must be a number > 0 and "
                                                                   f"<= 100000 ({WHY_TFLOPS})")


HardwareConfig = AcceleratorConfig | GpuConfig


def load_hardware(path: str | Path) -> HardwareConfig:
    """Load an accelerator or GPU config, choosing the class by its ``kind`` key."""
    return build_hardware(load_yaml(path), str(path))


def build_hardware(data, source: str) -> HardwareConfig:
    """An accelerator or GPU config from parsed YAML ``data`` (``source`` names it in errors)."""
    if not isinstance(data, dict):
        raise ConfigError(source, "<top level>", "must be a mapping")
    kind = data.get("kind")
    if kind == "accelerator":
        return build(AcceleratorConfig, data, source=source)
    if kind == "gpu":
        return build(GpuConfig, data, source=source)
    raise ConfigError(source, "kind", f"got {kind!r}; allowed: 'accelerator', 'gpu'")
