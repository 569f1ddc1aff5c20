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
and the ``passes`` of hwconfigs/tech/gpu_kernels.yaml (YAML the engine reads; no code is rewritten), and the
tables into docs/validation.md between the links markers.
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
from analysis.data import load_data, records, size_bytes
from simulator.config.hardware import PCIE_GBPS_PER_LANE, load_hardware
from simulator.pipeline import resolve

MiB = 2**20

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
    rate: str               # a ``passes`` key of hwconfigs/tech/gpu_kernels.yaml
    gpu: str
    elems: float
    elem_bytes: float
    measured_ms: float


G4 = 4  # PCIe generation of the fitted copy curve (RTX 4090, Gen4 x16)


def _kernel_entry(row: dict, where: str) -> dict:
    """A kernel point's size and time as published: ``elems`` may be a size in Mi; ``keys_per_s`` a rate."""
    row["elems"] = size_bytes(row.get("elems"), DATA_PATH, f"{where}.elems")
    if "keys_per_s" in row:
        row["measured_ms"] = row["elems"] / float(row.pop("keys_per_s")) * 1e3
    return row


def _ssd_entry(row: dict, where: str) -> dict:
    """An "other drive" point is its published IOPS over the same drive's QD1 IOPS."""
    if "ratio" in row:
        r = row.pop("ratio")
        row["measured"] = r["iops"] / r["per_qd1_iops"]
    return row


def _link_entry(row: dict, where: str) -> dict:
    row["size"] = size_bytes(row.get("size"), DATA_PATH, f"{where}.size")
    return row


# the published measurements (analysis/data/links.yaml; which are fitted and which held out is stated there)
_DATA, DATA_PATH = load_data("links.yaml")
SOURCES: dict[str, str] = dict(_DATA["sources"])
DRAM_PEAK: dict[str, float] = {k: float(v) for k, v in _DATA["dram_peak"].items()}
LINK_POINTS = records(_DATA, "link_points", LinkPoint, DATA_PATH, _link_entry)
SSD_FIT_DRIVE = dict(_DATA["ssd_fit_drive"])
SSD_POINTS = records(_DATA, "ssd_points", SsdPoint, DATA_PATH, _ssd_entry)
KERNEL_POINTS = records(_DATA, "kernel_points", KernelPoint, DATA_PATH, _kernel_entry)

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
CONFIGS = (("hwconfigs/orin-agx-32gb.yaml", False), ("hwconfigs/orin-agx-64gb.yaml", False),
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
    p = resolve(GPU_KERNELS)
    text = p.read_text()
    new = _set_passes(text, f.passes)
    if new != text:
        p.write_text(new)
        done.append(p)
    return done


GPU_KERNELS = "hwconfigs/tech/gpu_kernels.yaml"  # the irregular kernels' passes are written here


def _set_passes(text: str, passes: dict[str, float]) -> str:
    """The YAML ``text`` with each fitted rate's ``value`` in its ``passes:`` section set (comments kept)."""
    head, sep, rest = text.partition("\npasses:")
    if not sep:
        raise SystemExit(f"{GPU_KERNELS}: no passes: section")
    m = re.search(r"^\S", rest, flags=re.M)
    block, tail = (rest[:m.start()], rest[m.start():]) if m else (rest, "")
    for k, v in passes.items():
        block, n = re.subn(rf"(^\s+{k}:\s*\{{\s*value:\s*)[^,}}\s]+", rf"\g<1>{v}", block, count=1, flags=re.M)
        if n != 1:
            raise SystemExit(f"{GPU_KERNELS}: passes section has no '{k}: {{value: ...}}' entry")
    return head + sep + block + tail


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
    ap.add_argument("--write", action="store_true", help="write the fitted values into the configs (hardware, "
                    "gpu_kernels.yaml) and docs/validation.md")
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
