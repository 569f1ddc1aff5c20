"""Calibrate the offload path and the irregular GPU kernels on published measurements (part of ``make calibrate``).

Three components, each fitted on points chosen before fitting and checked on points it never fitted:

* **PCIe link** (``simulator/engine/memory/links.py``): a copy of ``b`` bytes takes ``c + b / (raw x efficiency)``,
  with one efficiency per PCIe transaction type (the device *reading* host memory: a GPU's host-to-device
  copy; the device *writing*, posted: a GPU's device-to-host copy, an SSD returning read data) and, for
  pageable host buffers, a staging copy in series. Fitted on one GPU's Gen4 x16 copy curve (two sizes per
  direction: the setup ``c`` and the rates solve exactly); held out: the other sizes of that curve, PCIe 3.0
  x16 GPUs, an A100's measured ingress peak and a PCIe 3.0 x4 NVMe drive's sequential read.
* **NVMe SSD** (random and sequential reads by request size and queue depth: pages on parallel flash units):
  latency from the data sheet's QD1 4 KiB random-read IOPS, the number of parallel units from its
  high-queue-depth IOPS, bandwidth from its sequential read; held out: measured sequential reads at two
  queue depths from a review of the sibling drive. Another drive's queue-depth scaling is reported apart
  (its own latency differs; only the shape of its curve is compared).
* **Irregular GPU kernels** (``simulator/engine/units/irregular.py``): DRAM passes per input byte for top-k and for
  radix sort, one published measurement each; no held-out measurement on an NVIDIA GPU of the same
  software was found, so none is claimed.

``--write`` (what ``make calibrate`` runs) writes the fitted values into the configs' ``offload:`` sections
and ``irregular.py``'s ``PASSES``, and the tables into docs/validation.md between the links markers.
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

import simulator.engine.memory.links as links
from analysis.calibrate.summary import component, record
from simulator.config.hardware import PCIE_GBPS_PER_LANE, load_hardware
from simulator.pipeline import resolve

MiB = 2**20

SOURCES = {
    "cuda-oxide": "NVlabs/cuda-oxide PR #976 (2026-08-17), pinned_overlap example on an RTX 4090, PCIe Gen4 x16: "
                  "'Transfer bandwidth (GB/s, median of 10 timed iterations)', pageable/pinned HtoD/DtoH at "
                  "1, 4, 16, 64 MiB",
    "gearshifft": "mpicbg-scicomp/gearshifft PR #82 (2017-03-27): CUDA bandwidthTest (quick mode, 33554432 B) "
                  "on a Tesla P100-PCIE-16GB (PCIe 3.0 x16), process bound to the GPU's socket: HtoD 12150.7 "
                  "MB/s, DtoH 12890.6 MB/s",
    "cuda-demo": "router-gao/cuda-demo, cuda-samples/02-cuda-bandwidth.md: bandwidthTest quick mode (32000000 B) "
                 "pinned: Tesla T4 (PCIe 3.0 x16) HtoD 9.7 / DtoH 11.1 GB/s; Tesla V100-SXM2-16GB (PCIe 3.0 x16 "
                 "to the host) 9.6 / 11.4 GB/s; A100-SXM4-40GB 12.3 / 13.2 GB/s",
    "della-a100": "jdh4/della-gpu-A100 @ 6bc648ec901aca02bb682ef9c8260058c46cfc7f, README.md: CUDA 11.3 "
                  "bandwidthTest, pinned, the 'DELLA' node: HtoD 18.0 / 19.4 / 24.1 / 25.8 GB/s and DtoH 15.8 / 25.4 / "
                  "26.2 / 25.7 GB/s at 1e6 / 1e7 / 1e8 / 1e9 bytes; its GPU, 'NVIDIA A100-PCIE-40GB' (PCIe 4.0 x16), "
                  "is named in the same file's earlier range run (commit 747e1df8)",
    "gengwg-a100": "gengwg/gpu @ 54e9b29dd04137191a140917917658bf216b1d74, nvda_gpu_benchmark.md: bandwidthTest quick "
                   "mode (32000000 B): DGX A100 (A100-SXM4-80GB) pinned HtoD 25.7 / DtoH 25.8, pageable 10.0 / 10.8 "
                   "GB/s; Dell XE A100 80GB PCIe pinned 17.3 / 24.6, pageable 3.3 / 8.5 GB/s",
    "bam": "ZaidQureshi/bam issue #54 (2025-02-14), maintainer: the BaM paper's 25 GB/s for an A100's PCIe Gen4 "
           "x16 'is measured peak' (ingress: SSD data written into GPU memory)",
    "970evo-plus-sheet": "Samsung 970 EVO Plus 1 TB data sheet as tabulated by digit.in (review 177943): 4 KB random "
                         "read QD1 19k IOPS, QD32 600k IOPS (Samsung states QD32 with 4 threads), sequential "
                         "read 3500 MB/s; PCIe 3.0 x4",
    "kitguru-970evo": "KitGuru, Samsung 970 EVO 2TB review, p.8: 128KB sequential read 3,402 MB/s (vs 3,500 "
                      "official); best low-queue-depth sequential read 2,594 MB/s at QD2",
    "kitguru-nm790": "KitGuru, Lexar NM790 4TB review, p.11 (CrystalDiskMark 8, 4K random read): QD1 1 thread "
                     "20,176 IOPS; QD1 4 threads 87,037; QD8 1 thread 132,941; QD8 4 threads 479,318",
    "mqsim": "CMU-SAFARI/MQSim @ 7ec40e3b198e8bd117f992f051cd610e330e079e run once on our modelled SSD "
             "(analysis/data/mqsim_oracle.csv, its configuration in analysis/data/mqsim/): a simulator, not a "
             "measurement",
    "pytorch-167462": "pytorch/pytorch issue #167462 (2025-11-10): torch.topk of a (128, 8000000) FP16 tensor, "
                      "k=1000, on an NVIDIA L20: 11.30 ms with torch 2.4.1 (17.32 ms with 2.7.1, a regression "
                      "since fixed)",
    "onesweep": "Adinets & Merrill, Onesweep (arXiv 2206.01784): 29.4 GKey/s sorting 256M random 32-bit keys "
                "on an A100, 'a speedup of ~1.5x' over CUB's radix sort (CUB: 29.4 / 1.5 = 19.6 GKey/s)",
}

# peak DRAM bandwidth of the GPUs the kernel measurements ran on (data sheets): L20 48 GB GDDR6 864 GB/s;
# A100 80GB SXM 2039 GB/s (Onesweep's A100; the paper does not say which A100: 80 GB SXM assumed)
DRAM_PEAK = {"L20": 864e9, "A100": 2039e9}


@dataclass(frozen=True)
class LinkPoint:
    name: str
    source: str
    role: str               # "fit" or "held out"
    gen: int
    lanes: int
    direction: str          # "read": device reads host memory (HtoD); "write": device writes (DtoH, SSD data)
    buffers: str            # "pinned" / "pageable"; "stream": many requests in flight (no per-copy setup)
    size: float             # bytes per copy
    measured_gbps: float


@dataclass(frozen=True)
class SsdPoint:
    name: str
    source: str
    role: str               # "fit", "held out", or "other drive" (shape only: ratio to its own QD1)
    request_kb: float
    queue_depth: int
    measured: float         # IOPS, or MB/s for sequential points
    unit: str               # "IOPS" or "MB/s"


@dataclass(frozen=True)
class KernelPoint:
    name: str
    source: str
    role: str
    rate: str               # irregular.PASSES key
    gpu: str
    elems: float
    elem_bytes: float
    measured_ms: float


G4, G3 = 4, 3
# chosen before fitting: the RTX 4090 curve's 1 MiB and 16 MiB HtoD points fix the setup and the read rate,
# its 16 MiB DtoH the write rate, its 16 MiB pageable points the staging rates; everything else is held out
LINK_POINTS = [
    LinkPoint("RTX 4090 pinned HtoD 1 MiB", "cuda-oxide", "fit", G4, 16, "read", "pinned", MiB, 22.51),
    LinkPoint("RTX 4090 pinned HtoD 16 MiB", "cuda-oxide", "fit", G4, 16, "read", "pinned", 16 * MiB, 23.85),
    LinkPoint("RTX 4090 pinned DtoH 16 MiB", "cuda-oxide", "fit", G4, 16, "write", "pinned", 16 * MiB, 26.55),
    LinkPoint("RTX 4090 pageable HtoD 16 MiB", "cuda-oxide", "fit", G4, 16, "read", "pageable", 16 * MiB, 18.42),
    LinkPoint("RTX 4090 pageable DtoH 16 MiB", "cuda-oxide", "fit", G4, 16, "write", "pageable", 16 * MiB, 12.34),
    LinkPoint("RTX 4090 pinned HtoD 4 MiB", "cuda-oxide", "held out", G4, 16, "read", "pinned", 4 * MiB, 23.57),
    LinkPoint("RTX 4090 pinned DtoH 1 MiB", "cuda-oxide", "held out", G4, 16, "write", "pinned", MiB, 25.42),
    LinkPoint("RTX 4090 pinned DtoH 4 MiB", "cuda-oxide", "held out", G4, 16, "write", "pinned", 4 * MiB, 26.62),
    LinkPoint("RTX 4090 pageable HtoD 1 MiB", "cuda-oxide", "held out", G4, 16, "read", "pageable", MiB, 13.73),
    LinkPoint("RTX 4090 pageable HtoD 4 MiB", "cuda-oxide", "held out", G4, 16, "read", "pageable", 4 * MiB, 17.07),
    LinkPoint("RTX 4090 pageable HtoD 64 MiB", "cuda-oxide", "held out", G4, 16, "read", "pageable", 64 * MiB,
              12.88),
    LinkPoint("RTX 4090 pageable DtoH 1 MiB", "cuda-oxide", "held out", G4, 16, "write", "pageable", MiB, 9.21),
    LinkPoint("RTX 4090 pageable DtoH 4 MiB", "cuda-oxide", "held out", G4, 16, "write", "pageable", 4 * MiB, 11.31),
    LinkPoint("P100 PCIe pinned HtoD 32 MiB", "gearshifft", "held out", G3, 16, "read", "pinned", 33554432, 12.1507),
    LinkPoint("P100 PCIe pinned DtoH 32 MiB", "gearshifft", "held out", G3, 16, "write", "pinned", 33554432,
              12.8906),
    LinkPoint("T4 pinned HtoD 32 MB", "cuda-demo", "held out", G3, 16, "read", "pinned", 32e6, 9.7),
    LinkPoint("T4 pinned DtoH 32 MB", "cuda-demo", "held out", G3, 16, "write", "pinned", 32e6, 11.1),
    LinkPoint("V100-SXM2 pinned HtoD 32 MB", "cuda-demo", "held out", G3, 16, "read", "pinned", 32e6, 9.6),
    LinkPoint("V100-SXM2 pinned DtoH 32 MB", "cuda-demo", "held out", G3, 16, "write", "pinned", 32e6, 11.4),
    LinkPoint("A100-SXM4-40GB pinned HtoD 32 MB", "cuda-demo", "held out", G4, 16, "read", "pinned", 32e6, 12.3),
    LinkPoint("A100-SXM4-40GB pinned DtoH 32 MB", "cuda-demo", "held out", G4, 16, "write", "pinned", 32e6, 13.2),
    # added in the io session, all held out (chosen before their predictions were computed): every figure of the
    # two sources' A100 runs (the Tiger node of della-a100 is left out: its GPU is not named)
    LinkPoint("A100-PCIE-40GB (Della) pinned HtoD 1 MB", "della-a100", "held out", G4, 16, "read", "pinned", 1e6, 18.0),
    LinkPoint("A100-PCIE-40GB (Della) pinned HtoD 10 MB", "della-a100", "held out", G4, 16, "read", "pinned", 1e7,
              19.4),
    LinkPoint("A100-PCIE-40GB (Della) pinned HtoD 100 MB", "della-a100", "held out", G4, 16, "read", "pinned", 1e8,
              24.1),
    LinkPoint("A100-PCIE-40GB (Della) pinned HtoD 1 GB", "della-a100", "held out", G4, 16, "read", "pinned", 1e9,
              25.8),
    LinkPoint("A100-PCIE-40GB (Della) pinned DtoH 1 MB", "della-a100", "held out", G4, 16, "write", "pinned", 1e6,
              15.8),
    LinkPoint("A100-PCIE-40GB (Della) pinned DtoH 10 MB", "della-a100", "held out", G4, 16, "write", "pinned", 1e7,
              25.4),
    LinkPoint("A100-PCIE-40GB (Della) pinned DtoH 100 MB", "della-a100", "held out", G4, 16, "write", "pinned", 1e8,
              26.2),
    LinkPoint("A100-PCIE-40GB (Della) pinned DtoH 1 GB", "della-a100", "held out", G4, 16, "write", "pinned", 1e9,
              25.7),
    LinkPoint("DGX A100-SXM4-80GB pinned HtoD 32 MB", "gengwg-a100", "held out", G4, 16, "read", "pinned", 32e6, 25.7),
    LinkPoint("DGX A100-SXM4-80GB pinned DtoH 32 MB", "gengwg-a100", "held out", G4, 16, "write", "pinned", 32e6, 25.8),
    LinkPoint("DGX A100-SXM4-80GB pageable HtoD 32 MB", "gengwg-a100", "held out", G4, 16, "read", "pageable", 32e6,
              10.0),
    LinkPoint("DGX A100-SXM4-80GB pageable DtoH 32 MB", "gengwg-a100", "held out", G4, 16, "write", "pageable", 32e6,
              10.8),
    LinkPoint("Dell A100 80GB PCIe pinned HtoD 32 MB", "gengwg-a100", "held out", G4, 16, "read", "pinned", 32e6, 17.3),
    LinkPoint("Dell A100 80GB PCIe pinned DtoH 32 MB", "gengwg-a100", "held out", G4, 16, "write", "pinned", 32e6,
              24.6),
    LinkPoint("Dell A100 80GB PCIe pageable HtoD 32 MB", "gengwg-a100", "held out", G4, 16, "read", "pageable", 32e6,
              3.3),
    LinkPoint("Dell A100 80GB PCIe pageable DtoH 32 MB", "gengwg-a100", "held out", G4, 16, "write", "pageable", 32e6,
              8.5),
    LinkPoint("A100 Gen4 x16 ingress peak (BaM)", "bam", "held out", G4, 16, "write", "stream", 0, 25.0),
    LinkPoint("970 EVO (PCIe 3.0 x4) 128 KiB sequential read", "kitguru-970evo", "held out", G3, 4, "write",
              "stream", 0, 3.402),
]

# the SSD model is fitted on the 970 EVO Plus 1 TB data sheet (PCIe 3.0 x4, like the Orin's M.2 link);
# Samsung's QD32 figure is measured with 4 threads: 128 requests in flight
SSD_FIT_DRIVE = {"seq_read_mbps": 3500.0, "gen": G3, "lanes": 4}
SSD_POINTS = [
    SsdPoint("970 EVO Plus 1TB 4K random read QD1", "970evo-plus-sheet", "fit", 4, 1, 19_000, "IOPS"),
    SsdPoint("970 EVO Plus 1TB 4K random read QD32 x 4 threads", "970evo-plus-sheet", "fit", 4, 128, 600_000,
             "IOPS"),
    SsdPoint("970 EVO 2TB 128K sequential read QD2", "kitguru-970evo", "held out", 128, 2, 2594, "MB/s"),
    SsdPoint("970 EVO 2TB 128K sequential read QD32", "kitguru-970evo", "held out", 128, 32, 3402, "MB/s"),
    SsdPoint("NM790 4K random read QD1 x 4 threads / QD1", "kitguru-nm790", "other drive", 4, 4, 87_037 / 20_176,
             "x QD1"),
    SsdPoint("NM790 4K random read QD8 / QD1", "kitguru-nm790", "other drive", 4, 8, 132_941 / 20_176, "x QD1"),
    SsdPoint("NM790 4K random read QD8 x 4 threads / QD1", "kitguru-nm790", "other drive", 4, 32, 479_318 / 20_176,
             "x QD1"),
]

KERNEL_POINTS = [
    KernelPoint("torch.topk (128, 8M) FP16, k=1000, L20", "pytorch-167462", "fit", "topk", "L20", 128 * 8e6, 2,
                11.30),
    KernelPoint("CUB radix sort 256M 32-bit keys, A100", "onesweep", "fit", "sort", "A100", 256 * MiB, 4,
                256 * MiB / 19.6e9 * 1e3),
]

PAGE_KB = 16  # flash page of 3D TLC NAND (Samsung V-NAND, Kioxia BiCS: 16 KiB); not fitted


def raw(gen: int, lanes: int) -> float:
    return PCIE_GBPS_PER_LANE[gen] * 1e9 * lanes


@dataclass(frozen=True)
class LinkFit:
    setup_us: float          # per copy (cudaMemcpyAsync + copy-engine start)
    read_eff: float          # device reads host memory (non-posted reads + completions)
    write_eff: float         # device writes (posted writes)
    staging_read_gbps: float
    staging_write_gbps: float


def fit_link() -> LinkFit:
    fit = [p for p in LINK_POINTS if p.role == "fit"]

    def pick(direction, buffers, size):
        return next(p for p in fit if (p.direction, p.buffers, p.size) == (direction, buffers, size))

    small, big = pick("read", "pinned", MiB), pick("read", "pinned", 16 * MiB)
    t_small, t_big = small.size / (small.measured_gbps * 1e9), big.size / (big.measured_gbps * 1e9)
    rate_r = (big.size - small.size) / (t_big - t_small)
    setup = t_small - small.size / rate_r
    w = pick("write", "pinned", 16 * MiB)
    rate_w = w.size / (w.size / (w.measured_gbps * 1e9) - setup)

    def staging(p, link_rate):
        rate = p.size / (p.size / (p.measured_gbps * 1e9) - setup)
        return 1.0 / (1.0 / rate - 1.0 / link_rate)

    return LinkFit(setup_us=round(setup * 1e6, 2), read_eff=round(rate_r / raw(G4, 16), 3),
                   write_eff=round(rate_w / raw(G4, 16), 3),
                   staging_read_gbps=round(staging(pick("read", "pageable", 16 * MiB), rate_r) / 1e9, 1),
                   staging_write_gbps=round(staging(pick("write", "pageable", 16 * MiB), rate_w) / 1e9, 1))


def predict_link(f: LinkFit, p: LinkPoint) -> float:
    rate = raw(p.gen, p.lanes) * (f.read_eff if p.direction == "read" else f.write_eff)
    if p.buffers == "stream":
        return rate / 1e9
    if p.buffers == "pageable":
        rate = links.pageable_rate(rate, (f.staging_read_gbps if p.direction == "read" else f.staging_write_gbps) * 1e9)
    return p.size / float(links.copy_s(p.size, 1, rate, f.setup_us * 1e-6)) / 1e9


@dataclass(frozen=True)
class SsdFit:
    latency_us: float
    parallel_units: int


def _ssd_bw(f_link: LinkFit) -> float:
    """The fit drive's read bandwidth: its sequential rate, or the link's (data returns as posted writes)."""
    link = raw(SSD_FIT_DRIVE["gen"], SSD_FIT_DRIVE["lanes"]) * f_link.write_eff
    return min(SSD_FIT_DRIVE["seq_read_mbps"] * 1e6, link)


def _iops(req_kb, qd, lat_s, units, bw) -> float:
    return links.ssd_iops(req_kb * 1024, qd, PAGE_KB * 1024, units, lat_s, bw)


def fit_ssd(f_link: LinkFit) -> SsdFit:
    qd1, deep = (p for p in SSD_POINTS if p.role == "fit")
    bw = _ssd_bw(f_link)
    # QD1: one request at a time: latency plus its 4 KiB on the link
    lat = 1.0 / qd1.measured - qd1.request_kb * 1024 / bw
    # the smallest unit count that reaches the deep-queue IOPS (IOPS grows with units)
    units = next(u for u in range(1, 4097) if _iops(deep.request_kb, deep.queue_depth, lat, u, bw) >= deep.measured)
    return SsdFit(latency_us=round(lat * 1e6, 2), parallel_units=units)


def predict_ssd(fs: SsdFit, f_link: LinkFit, p: SsdPoint) -> float:
    bw, lat = _ssd_bw(f_link), fs.latency_us * 1e-6
    iops = _iops(p.request_kb, p.queue_depth, lat, fs.parallel_units, bw)
    if p.unit == "MB/s":
        return iops * p.request_kb * 1024 / 1e6
    if p.unit == "x QD1":
        return iops / _iops(p.request_kb, 1, lat, fs.parallel_units, bw)
    return iops


def mqsim_rows(fs: SsdFit, f_link: LinkFit) -> list["Row"]:
    """Our SSD model against MQSim run once on the same SSD (analysis/data/mqsim_oracle.csv): role "oracle",
    reported beside the measurements, not in their held-out median."""
    import csv

    text = resolve("analysis/data/mqsim_oracle.csv").read_text().splitlines()
    out = []
    for r in csv.DictReader([line for line in text if not line.startswith("#")]):
        kb, qd = int(r["request_kb"]), int(r["queue_depth"])
        pred = predict_ssd(fs, f_link, SsdPoint("", "", "", kb, qd, 0.0, "IOPS"))
        out.append(Row("ssd", f"MQSim {kb} KiB random read QD{qd}", "mqsim", "oracle", "IOPS", float(r["iops"]),
                       pred))
    return out


def fit_kernels() -> dict[str, float]:
    return {p.rate: round(p.measured_ms * 1e-3 * DRAM_PEAK[p.gpu] / (p.elems * p.elem_bytes), 3)
            for p in KERNEL_POINTS if p.role == "fit"}


def predict_kernel(passes: dict[str, float], p: KernelPoint) -> float:
    return p.elems * p.elem_bytes * passes[p.rate] / DRAM_PEAK[p.gpu] * 1e3


@dataclass(frozen=True)
class Row:
    component: str
    name: str
    source: str
    role: str
    unit: str
    measured: float
    predicted: float

    @property
    def error(self) -> float:
        return self.predicted / self.measured - 1.0


@dataclass(frozen=True)
class Fits:
    link: LinkFit
    ssd: SsdFit
    passes: dict


def fit_all() -> Fits:
    lf = fit_link()
    return Fits(link=lf, ssd=fit_ssd(lf), passes=fit_kernels())


def evaluate(f: Fits) -> list[Row]:
    rows = [Row("link", p.name, p.source, p.role, "GB/s", p.measured_gbps, predict_link(f.link, p))
            for p in LINK_POINTS]
    rows += [Row("ssd", p.name, p.source, p.role, p.unit, p.measured, predict_ssd(f.ssd, f.link, p))
             for p in SSD_POINTS]
    rows += mqsim_rows(f.ssd, f.link)
    rows += [Row("gpu kernels", p.name, p.source, p.role, "ms", p.measured_ms, predict_kernel(f.passes, p))
             for p in KERNEL_POINTS]
    return rows


COMPONENTS = ("link", "ssd", "gpu kernels")


def _count_median(rows: list[Row], component: str, role: str) -> tuple[int, float]:
    """Points of ``role`` in ``component`` and their median absolute error (NaN without points)."""
    errs = [abs(r.error) for r in rows if r.component == component and r.role == role]
    return len(errs), (statistics.median(errs) if errs else math.nan)


def held_out_median(rows: list[Row], component: str) -> float:
    return _count_median(rows, component, "held out")[1]


def _fmt(v: float) -> str:
    return f"{v:,.0f}" if v >= 1000 else f"{v:.4g}"


def tables_markdown(rows: list[Row]) -> str:
    out = []
    for comp in COMPONENTS:
        med = held_out_median(rows, comp)
        med_s = "none held out" if math.isnan(med) else f"held-out median |error| {med:.1%}"
        out += [f"**{comp}** ({med_s}):", "",
                "| point | source | role | measured | model | error |", "| --- | --- | --- | ---: | ---: | ---: |"]
        out += [f"| {r.name} | `{r.source}` | {r.role} | {_fmt(r.measured)} {r.unit} | {_fmt(r.predicted)} | "
                f"{r.error:+.1%} |" for r in rows if r.component == comp]
        out.append("")
    out.append("Sources: " + "; ".join(f"`{k}`: {v}" for k, v in SOURCES.items()) + ".")
    return "\n".join(out)


def values_markdown(f: Fits) -> str:
    lk = f.link
    return (f"Fitted values: PCIe efficiency {lk.read_eff} of the raw lane rate when the device reads host memory, "
            f"{lk.write_eff} when it writes (posted; an SSD's read data), {lk.setup_us} us per copy call, pageable "
            f"staging at {lk.staging_read_gbps} GB/s (reads) and {lk.staging_write_gbps} GB/s (writes); SSD reads "
            f"{f.ssd.latency_us} us per {PAGE_KB} KiB flash page on {f.ssd.parallel_units} parallel units; irregular "
            "kernels " + ", ".join(f"`{k}` {v} DRAM passes per input byte" for k, v in f.passes.items()) + ".")


# configs the fit is written into: (path, setup applies: GPU copies are cudaMemcpyAsync calls; V-Rex's DMA
# engine issues hardware descriptors; the Orin's SSD reads land in its unified memory, no copy call)
CONFIGS = (("hwconfigs/orin-agx-32gb.yaml", False), ("hwconfigs/orin-agx.yaml", False),
           ("hwconfigs/a100-80gb.yaml", True), ("hwconfigs/vrex8-edge.yaml", False),
           ("hwconfigs/vrex-edge.yaml", False), ("hwconfigs/vrex48-server.yaml", False))


def config_values(f: Fits, path: str, copies: bool) -> dict[str, float]:
    hw = load_hardware(resolve(path))
    off = hw.offload
    ssd = off.tier == "ssd"
    # data read from an SSD reaches the device as the SSD's posted writes; from host memory as completions
    # to the device's reads
    vals = {"efficiency": f.link.write_eff if ssd else f.link.read_eff,
            "write_efficiency": f.link.read_eff if ssd else f.link.write_eff}
    if copies:
        vals["setup_us"] = round(max(f.link.setup_us - off.device.read_latency_us, 0.0), 2)
        # host-memory copies from pageable buffers (the GPU baselines' own pattern, kv_transfer) stage on the host
        vals.update(staging_read_gbps=f.link.staging_read_gbps, staging_write_gbps=f.link.staging_write_gbps)
    if ssd:
        vals.update(read_latency_us=f.ssd.latency_us, parallel_units=f.ssd.parallel_units, page_kb=PAGE_KB)
    return vals


def _set_keys(text: str, vals: dict) -> str:
    head, sep, rest = text.partition("\noffload:")
    if not sep:
        raise SystemExit("no offload: section")
    m = re.search(r"^\S", rest, flags=re.M)
    block, tail = (rest[:m.start()], rest[m.start():]) if m else (rest, "")
    for k, v in vals.items():
        block, n = re.subn(rf"(\b{k}:\s*)[^,}}\s#]+", rf"\g<1>{v}", block, count=1)
        if n != 1:
            raise SystemExit(f"offload section has no '{k}:' key")
    return head + sep + block + tail


def write_configs(f: Fits) -> list[Path]:
    done = []
    for path, copies in CONFIGS:
        p = resolve(path)
        text = p.read_text()
        new = _set_keys(text, config_values(f, path, copies))
        if new != text:
            p.write_text(new)
            done.append(p)
    p = resolve("simulator/engine/units/irregular.py")
    text = p.read_text()
    new = re.sub(r"^PASSES = \{.*\}$", "PASSES = {" + ", ".join(f'"{k}": {v}' for k, v in f.passes.items()) + "}",
                 text, count=1, flags=re.M)
    if new != text:
        p.write_text(new)
        done.append(p)
    return done


# why the link and SSD miss where they miss (facts of the tables above; nothing below is tuned)
NOTES = (
    "Misses, not tuned away. *Link*: the held-out median stays above the 10% target. The model is one host's "
    "(the RTX 4090's) copy path carried to every GPU on the same PCIe generation; the held-out A100s show how much "
    "the host decides: at 32 MB pinned HtoD, 25.7 GB/s on a DGX A100, 17.3 on a Dell A100 PCIe server and 12.3 on "
    "a cloud A100-SXM4 (cuda-demo; about a PCIe 3.0 x16 rate), with the same GPU and lane rate. Pageable copies "
    "depend on the host CPU and memory even more (32 MB pageable HtoD: 10.0 GB/s on the DGX, 3.3 on the Dell; "
    "the RTX 4090 host's 64 MiB point falls below its 16 MiB one, likely the copy source leaving the CPU's "
    "last-level cache); at 1 MiB pageable copies also carry a larger fixed cost than pinned ones, which the "
    "model (one setup for both) misses by ~30%. Fitting a pageable setup needs a second pageable size from a "
    "source other than the held-out curve; none was found. PCIe 3.0 and 4.0 share 128b/130b encoding and TLP "
    "framing, so no per-generation efficiency term is justified by the spec. *SSD*: MQSim (a simulator, not a "
    "measurement) agrees within 7% at queue depth 1 and where the link bounds (128 KiB), but serves 16-36% fewer "
    "small random reads at queue depths 4-32 than our balls-into-bins count of busy flash units: in its steady "
    "state reads queue behind busy dies (a closed queueing network keeps fewer dies busy than a burst of fresh "
    "requests), and each 16 KiB read also holds a flash channel for 13.6 us (4 channels at 1200 MT/s: our "
    "assumption in its configuration), a term our model does not have. Only two measured SSD points are held out "
    "(both sequential reads); no published queue-depth sweep of the fitted drive was found.")

README_BEGIN, README_END = "<!-- calibrate-links:begin -->", "<!-- calibrate-links:end -->"


def write_readme(f: Fits, rows: list[Row], path: str = "docs/validation.md") -> bool:
    from analysis.report.markdown import write_between

    body = f"{values_markdown(f)}\n\n{tables_markdown(rows)}\n\n{NOTES}"
    return write_between(resolve(path), README_BEGIN, README_END, body)


def plot(rows: list[Row], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    from analysis.report.figures import save_png

    fig, axes = plt.subplots(1, len(COMPONENTS), figsize=(13, 4.2))
    styles = {"fit": ("o", "tab:blue"), "held out": ("s", "tab:orange"), "other drive": ("^", "tab:gray"),
              "oracle": ("x", "tab:green")}
    for ax, comp in zip(axes, COMPONENTS):
        sel = [r for r in rows if r.component == comp]
        for role, (marker, color) in styles.items():
            pts = [r for r in sel if r.role == role]
            if pts:
                ax.scatter([r.measured for r in pts], [r.predicted for r in pts], marker=marker, color=color,
                           label=role)
        lo = min(min(r.measured, r.predicted) for r in sel) * 0.8
        hi = max(max(r.measured, r.predicted) for r in sel) * 1.25
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        for k in (0.9, 1.1):
            ax.plot([lo, hi], [lo * k, hi * k], "k:", lw=0.6)
        med = held_out_median(rows, comp)
        ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel="measured (units as in the table)",
               ylabel="model",
               title=f"{comp}" + ("" if math.isnan(med) else f" (held-out median {med:.1%})"))
        ax.legend(fontsize=7, loc="upper left")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_minor_formatter(NullFormatter())
    return save_png(fig, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plot", default="results/calibrate/links-calibration.png", help="measured-vs-model figure")
    ap.add_argument("--write", action="store_true", help="write the fitted values into the configs, irregular.py "
                    "and docs/validation.md")
    args = ap.parse_args(argv)
    print("sources:")
    for k, v in SOURCES.items():
        print(f"  {k}: {v}")
    f = fit_all()
    print("\n" + values_markdown(f))
    rows = evaluate(f)
    for comp in COMPONENTS:
        med = held_out_median(rows, comp)
        print(f"\n{comp}: held-out median |error| " + ("n/a (none held out)" if math.isnan(med) else f"{med:.1%}"))
        print(f"  {'point':52s} {'source':18s} {'role':11s} {'measured':>11s} {'model':>11s} {'error':>7s}")
        for r in rows:
            if r.component == comp:
                print(f"  {r.name:52s} {r.source:18s} {r.role:11s} {_fmt(r.measured):>11s} {_fmt(r.predicted):>11s} "
                      f"{r.error:+7.1%}")
    print(f"\nfigure: {plot(rows, resolve(args.plot))}")
    record("calibrate_links", [component(c, *_count_median(rows, c, "fit"), *_count_median(rows, c, "held out"))
                               for c in COMPONENTS])
    if args.write:
        for p in write_configs(f):
            print(f"wrote {p}")
        if write_readme(f, rows):
            print("wrote docs/validation.md (links validation tables)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
