"""Area and power model vs published accelerators (``make validate-area``).

Each chip (its published data and sources in ``analysis/data/chips.yaml``) is rebuilt from its published
configuration (MACs, precision, SRAM sizes, node, supply, clock) out of the same blocks the simulator uses
(``simulator/engine/physical/area_model.py``) and the same technology table, plus the control share the V-Rex
configs use (``CONTROL_OVERHEAD``). Nothing in the model was fitted to these chips except the layout factor
(below). Where a chip's banking is not published we split its SRAM into ``DEFAULT_BANK_KB`` banks of
``DEFAULT_PORT_BITS``-bit ports (our assumption, the same for every chip).

The model gives synthesis-level area (cells and SRAM macros), as the simulator reports it and as
V-Rex's own area (Design Compiler) is stated. Published chip areas are layouts (placement utilisation,
clock tree, wiring, power grid included): for those rows one layout factor (layout area / model area)
converts, fitted on the TPUv1 rows (its floor plan gives logic and SRAM blocks separately); the TPUv1
rows are therefore marked fitted and kept out of the held-out median. Synthesis/compiler figures
(the RecPipe SRAM macros) are compared without it.

Predicted power is the peak (every MAC and every SRAM port busy each cycle, plus leakage); each published
figure is stated with its activity (peak, TDP, a measured workload) and with what it covers that the rebuilt
blocks leave out (``not_modelled``: I/O, vector units, control), so like is compared with like. No power row is
fitted; ``power_table`` lists the 12-28 nm rows with the model's split (logic, SRAM, leakage). The logic's
synthesised energy carries one fitted scale (technology table ``synth_datapath_scale``), fitted by
``fit_datapath_scale`` on the NVDLA primer's seven 16 nm peak power estimates (analysis/data/nvdla_power.yaml),
which are not rows of the table; the command prints the fit beside the rows.
Published areas are layout areas (placement utilisation and wiring included) while the model sums
cell and macro areas: the model is expected to fall below them by the layout overhead.

``--write`` puts the table into docs/validation.md between the validate-area markers.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from analysis.data import load_data, records
from simulator.config.tech import TechPoint, load_tech
from simulator.engine.physical.area_model import Block, adder, comparator, mac_tree, multiplier, register, systolic_pe
from simulator.engine.physical.synthesis import overhead_factor
from simulator.errors import ConfigError

CONTROL_OVERHEAD = 0.1  # the control share of hwconfigs/vrex8-edge.yaml (an assumption there too)
DEFAULT_BANK_KB = 16  # ours: banking of SRAMs whose banking is not published
DEFAULT_PORT_BITS = 128  # ours
README_BEGIN, README_END = "<!-- validate-area:begin -->", "<!-- validate-area:end -->"


class SramBlock(Block):
    """An SRAM macro: no synthesis overhead (its clocking and periphery are in the macro model)."""

    def __mul__(self, n: float) -> "SramBlock":
        return SramBlock(self.area_mm2 * n, self.pj * n)

    __rmul__ = __mul__


def sram(t: TechPoint, kb: float, banks: int | None = None, port_bits: int = DEFAULT_PORT_BITS,
         active: int = 1) -> Block:
    """``kb`` KiB in ``banks`` banks (default: DEFAULT_BANK_KB each); ``pj``: ``active`` banks read per cycle."""
    banks = banks or max(1, round(kb / DEFAULT_BANK_KB))
    return SramBlock(t.sram_mm2(kb, banks, port_bits), active * port_bits * t.sram_pj_per_bit(kb / banks))


@dataclass(frozen=True)
class Chip:
    name: str
    node: str
    vdd: float
    clock_mhz: float
    config: str  # what the model is given
    blocks: str  # a key of BUILDERS: the builder of block -> (area, pJ per cycle at full activity)
    source: str  # the published source (in the data file: a key of its ``sources``)
    area_mm2: float | None = None  # published (None: no published area, a power-only row)
    area_scope: str = ""
    power_w: float | None = None  # published, at ``activity``
    activity: str = ""
    not_modelled: str = ""  # what the published power covers that the model's blocks leave out
    fitted: bool = False  # used to fit the layout factor
    layout: bool = True  # the published area is a layout (False: synthesis or memory-compiler area)
    fits_layout: bool = True  # a fitted row that sets the layout factor (False: fitted only through its blocks)


def _eyeriss(t):
    pe = (multiplier(t, "int16") + adder(t, 16) + register(t, (12 + 24) * 16)  # ifmap and psum spads
          + sram(t, 224 * 2 / 1024, 1, 16))  # filter spad: 224 x 16b SRAM
    return {"168 PEs": pe * 168, "global buffer 108 KB": sram(t, 108)}


def _diannao(t):
    nfu = mac_tree(t, 16, "int16") * 16  # NFU-1/NFU-2: 16 neurons x 16 synapses, adder trees
    return {"NFU (16 trees x 16)": nfu, "NBin+NBout 2+2 KB": sram(t, 2, 1, 256) * 2,
            "SB 32 KB": sram(t, 32, 16, 256, active=16)}  # 16 x 16 synapses of 16 bits per cycle


def _shidiannao(t):
    pe = multiplier(t, "int16") + adder(t, 16) + comparator(t, 16) + register(t, 4 * 16)
    return {"64 PEs": pe * 64, "NBin+NBout 64+64 KB": sram(t, 64) * 2, "SB 128 KB": sram(t, 128),
            "IB 32 KB": sram(t, 32)}


def _eie_pe(t):
    arith = multiplier(t, "int16") + adder(t, 16) + register(t, 16 * 16 + 2 * 16)  # codebook, operand regs
    return {"PE datapath": arith, "sparse-matrix SRAM 128 KB": sram(t, 128, 8, 64),
            "pointer SRAM 32 KB": sram(t, 32, 2, 16), "activation SRAM 2 KB": sram(t, 2, 2, 64)}


def _tpu_mmu(t):
    return {"256 x 256 INT8 PEs": systolic_pe(t, "int8") * 65536}


def _tpu_ub(t):
    return {"Unified Buffer 24 MiB": sram(t, 24 * 1024)}


def _tpu_acc(t):
    return {"Accumulators 4 MiB": sram(t, 4 * 1024)}


def _tpu_die(t):
    return {**_tpu_mmu(t), **_tpu_ub(t), **_tpu_acc(t)}


def _dadiannao(t):
    # per tile: an NFU of 16 output neurons x 16 inputs (16b adder trees, DianNao's NFU) and 2 MB of eDRAM
    # (modelled as SRAM, 4 banks of 4096-bit rows per tile as published); central 4 MB eDRAM
    nfu = mac_tree(t, 16, "int16") * 16
    return {"16 NFUs (16 x 16-input 16b trees)": nfu * 16,
            "eDRAM 16 x 2 MB (as SRAM)": sram(t, 2048, 4, 4096) * 16, "central eDRAM 4 MB": sram(t, 4096)}


def _recpipe_4k(t):
    return {"4 KB macro (2048 x 16b, mux 4)": Block(t.sram_bank_mm2(4, 16, 4), 0.0)}


def _recpipe_256k(t):
    return {"256 KB macro (65536 x 32b, mux 32, 8 banks)": Block(8 * t.sram_bank_mm2(32, 32, 32), 0.0)}


def _simba(t):
    pe = mac_tree(t, 8, "int8") * 8 + sram(t, 32, 2) + sram(t, 8, 1) + sram(t, 3, 1)  # weight, input, accum
    return {"16 PEs (8 x 8-wide INT8 vector MACs)": pe * 16, "global PE buffer 64 KB": sram(t, 64)}


def _tesla_npu(t):
    # one NPU of the FSD chip: a 96 x 96 array of 8b x 8b multiplies with 32-bit accumulation (PEs as TPUv1's) and
    # 32 MiB of SRAM from which 256 B of activations and 128 B of weights are read each cycle (384 B: 24 of the
    # default 128-bit ports); its activation/pooling hardware and control processor are not modelled
    return {"96 x 96 INT8 MACs": systolic_pe(t, "int8") * (96 * 96),
            "SRAM 32 MiB (384 B read per cycle)": sram(t, 32 * 1024, active=384 * 8 // DEFAULT_PORT_BITS)}


def _groq_tsp(t):
    # Groq's TSP: 409,600 INT8 MACs (4 x 320 x 320, as we read the ISCA 2020 paper; 1 PetaOp/s at 1.25 GHz) and
    # 220 MB of SRAM in 20 superlanes, each with two memory units streaming 512 B per cycle to their neighbours;
    # its vector and switch units, instruction control, chip-to-chip links and PCIe are not modelled
    reads = 20 * 2 * 512 * 8 // DEFAULT_PORT_BITS  # 128-bit ports read per cycle
    return {"4 x 320 x 320 INT8 MACs": systolic_pe(t, "int8") * 409_600,
            "SRAM 220 MB (40 x 512 B read per cycle)": sram(t, 220e6 / 1024, active=reads)}


GRAYSKULL_TREE_INPUTS = 32  # ours: MACs per adder tree of a Tensix matrix engine (its structure is not published)
GRAYSKULL_READ_BYTES = 64  # ours: bytes each core reads from its 1 MB L1 per cycle at peak (not published)


def _grayskull(t):
    # Tenstorrent Grayskull: 120 Tensix cores with 1 MB of SRAM each and 368 TOPS peak (8-bit), i.e. 184e12 MACs/s,
    # as INT8 MAC trees at the 1.2 GHz clock of its e150 card (the MAC count follows the clock; the MACs' power
    # depends on their product only); its RISC-V controllers, SIMD units, NoC, LPDDR4 and PCIe are not modelled
    macs = 368e12 / 2 / 1.2e9
    return {"INT8 MAC trees (368 TOPS)": mac_tree(t, GRAYSKULL_TREE_INPUTS, "int8") * (macs / GRAYSKULL_TREE_INPUTS),
            "120 x 1 MB SRAM": sram(t, 1024, active=GRAYSKULL_READ_BYTES * 8 // DEFAULT_PORT_BITS) * 120}


BUILDERS: dict[str, Callable[[TechPoint], dict[str, Block]]] = {
    "eyeriss": _eyeriss, "diannao": _diannao, "shidiannao": _shidiannao, "eie_pe": _eie_pe, "tpu_mmu": _tpu_mmu,
    "tpu_ub": _tpu_ub, "tpu_acc": _tpu_acc, "tpu_die": _tpu_die, "dadiannao": _dadiannao, "simba": _simba,
    "recpipe_4k": _recpipe_4k, "recpipe_256k": _recpipe_256k, "tesla_npu": _tesla_npu, "groq_tsp": _groq_tsp,
    "grayskull": _grayskull,
}  # a chip's ``blocks`` in analysis/data/chips.yaml names one of these


def load_chips(name: str = "chips.yaml") -> tuple[Chip, ...]:
    """The published chips of analysis/data/``name``, in file order; a bad entry is a one-line error naming the
    file and the key."""
    data, path = load_data(name)

    def convert(row: dict, where: str) -> dict:
        share = row.pop("area_share", None)
        if share is not None:
            if not isinstance(share, (int, float)) or not 0 < share <= 1:
                raise ConfigError(path, f"{where}.area_share", f"got {share!r}; must be a fraction in (0, 1]")
            row["area_mm2"] = share * row.get("area_mm2", math.nan)
        if row.get("blocks") not in BUILDERS:
            raise ConfigError(path, f"{where}.blocks", f"got {row.get('blocks')!r}; allowed: {', '.join(BUILDERS)}")
        for key in ("vdd", "clock_mhz", "area_mm2", "power_w"):
            v = row.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
                raise ConfigError(path, f"{where}.{key}", f"got {v!r}; must be a positive number")
        return row

    chips = records(data, "chips", Chip, path, convert)
    return tuple(dataclasses.replace(c, source=data["sources"][c.source]) for c in chips)


CHIPS = load_chips()


@dataclass(frozen=True)
class Row:
    chip: Chip
    model_mm2: float  # cells + macros (+ control share)
    power_w: float
    layout_factor: float = 1.0
    logic_w: float = 0.0  # of power_w: the logic blocks' dynamic power (with the synthesis overhead and control)
    sram_w: float = 0.0  # of power_w: SRAM reads (with the control share)

    @property
    def area_mm2(self) -> float:
        """Predicted area comparable to the published one (x the layout factor for layouts)."""
        return self.model_mm2 * (self.layout_factor if self.chip.layout else 1.0)

    @property
    def area_error(self) -> float | None:
        return None if self.chip.area_mm2 is None else self.area_mm2 / self.chip.area_mm2 - 1

    @property
    def power_error(self) -> float | None:
        return None if self.chip.power_w is None else self.power_w / self.chip.power_w - 1


def _power_w(t: TechPoint, blocks: dict[str, Block], clock_mhz: float, control: float) -> tuple[float, ...]:
    """(area mm^2, logic W, SRAM W, leakage W) of ``blocks`` at full activity: logic with the synthesis overhead
    (synthesis.py; not on SRAM), both with the control share ``control`` (a factor >= 1)."""
    area = sum(b.area_mm2 for b in blocks.values()) * control
    to_w = control * clock_mhz * 1e6 * 1e-12  # pJ per cycle -> W (with the control share)
    sram_w = sum(b.pj for b in blocks.values() if isinstance(b, SramBlock)) * to_w
    logic_w = sum(b.pj for b in blocks.values() if not isinstance(b, SramBlock)) * overhead_factor(t) * to_w
    return area, logic_w, sram_w, area * t.leakage_mw_per_mm2() * 1e-3


def predict(chip: Chip, tech=None, layout_factor: float = 1.0) -> Row:
    t = (tech or load_tech()).at(chip.node, chip.vdd)
    control = 1 + (CONTROL_OVERHEAD if chip.layout else 0.0)  # a bare SRAM macro has no control share
    area, logic_w, sram_w, leak_w = _power_w(t, BUILDERS[chip.blocks](t), chip.clock_mhz, control)
    return Row(chip, area, logic_w + sram_w + leak_w, layout_factor, logic_w, sram_w)


# ---- the fit of the synthesised datapath's energy (technology table synth_datapath_scale) ----
NVDLA_NODE, NVDLA_CLOCK_MHZ = "16nm", 1000.0  # the primer's power column: 16 nm, 1 GHz (supply: the table's)
WEIGHT_REUSE_CYCLES = 16  # ours: a kernel group's weights, read from the buffer once, serve this many cycles


@dataclass(frozen=True)
class NvdlaConfig:
    """One row of the NVDLA primer's table (analysis/data/nvdla_power.yaml): INT8 MACs, convolution buffer,
    MACs per adder tree (atomic C), published peak and average power at 16 nm, 1 GHz."""
    macs: int
    cbuf_kb: float
    atomic_c: int
    peak_mw: float
    average_mw: float
    source: str
    atomic_c_ours: bool = False  # atomic C not published for this size (ours)


def load_nvdla(name: str = "nvdla_power.yaml") -> tuple[NvdlaConfig, ...]:
    data, path = load_data(name)

    def convert(row: dict, where: str) -> dict:
        for key in ("macs", "cbuf_kb", "atomic_c", "peak_mw", "average_mw"):
            v = row.get(key)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
                raise ConfigError(path, f"{where}.{key}", f"got {v!r}; must be a positive number")
        if row.get("macs", 0) % row.get("atomic_c", 1):
            raise ConfigError(path, f"{where}.atomic_c", f"got {row['atomic_c']!r}; must divide macs")
        return row

    return tuple(records(data, "configs", NvdlaConfig, path, convert))


def nvdla_blocks(t: TechPoint, cfg: NvdlaConfig) -> dict[str, Block]:
    """NVDLA's convolution core rebuilt from the simulator's blocks: macs / atomic_c INT8 MAC trees (each with
    its accumulator) and the convolution buffer, read each cycle for one feature atom (atomic_c bytes) and a
    kernel group's weights (macs bytes) once per WEIGHT_REUSE_CYCLES. Its activation, pooling, normalisation
    and DMA engines are not rebuilt (the fit's intercept holds what does not grow with the MACs)."""
    read_bits = 8 * (cfg.atomic_c + cfg.macs / WEIGHT_REUSE_CYCLES)
    return {"CMAC": mac_tree(t, cfg.atomic_c, "int8") * (cfg.macs // cfg.atomic_c),
            "CBUF": sram(t, cfg.cbuf_kb, active=read_bits / DEFAULT_PORT_BITS)}


def _slope(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares (slope, intercept) of ys on xs."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return slope, my - slope * mx


@dataclass(frozen=True)
class DatapathFit:
    """The synthesised datapath's scale fitted on NVDLA's peak power across its sizes (per MAC: the slope)."""
    scale: float  # fitted synth_datapath_scale
    table_scale: float  # the technology table's value (the one in use)
    published_pj_per_mac: float  # the published peak's slope: W per MAC at 1 GHz = pJ per MAC-cycle
    model_pj_per_mac: float  # the model's slope at the table's scale (logic + SRAM + leakage)
    intercept_mw: float  # published peak at zero MACs (the engines and control that do not grow with the MACs)
    rows: tuple[tuple[NvdlaConfig, float], ...]  # (the fit point, model peak mW at the fitted scale)


def fit_datapath_scale(tech=None, configs: tuple[NvdlaConfig, ...] | None = None) -> DatapathFit:
    """synth_datapath_scale that makes the model's peak power per MAC (the slope over the sizes) equal NVDLA's:
    the published slope less the model's SRAM and leakage slopes, over the model's logic slope at scale 1."""
    tech = tech or load_tech()
    t = tech.at(NVDLA_NODE)
    configs = configs or load_nvdla()
    parts = [_power_w(t, nvdla_blocks(t, c), NVDLA_CLOCK_MHZ, 1 + CONTROL_OVERHEAD) for c in configs]
    macs = [float(c.macs) for c in configs]
    pub, pub0 = _slope(macs, [c.peak_mw * 1e-3 for c in configs])
    logic, _ = _slope(macs, [p[1] for p in parts])
    rest, _ = _slope(macs, [p[2] + p[3] for p in parts])
    current = t.base("synth_datapath_scale")
    scale = current * (pub - rest) / logic
    rows = tuple((c, 1e3 * (p[1] * scale / current + p[2] + p[3])) for c, p in zip(configs, parts))
    model, _ = _slope(macs, [p[1] + p[2] + p[3] for p in parts])
    to_pj = 1e12 / (NVDLA_CLOCK_MHZ * 1e6)
    return DatapathFit(scale, current, pub * to_pj, model * to_pj, pub0 * 1e3, rows)


def fit_layout_factor(rows: list[Row]) -> float:
    """Geometric mean of published / model area over the fitted layout rows."""
    fit = [r for r in rows if r.chip.fitted and r.chip.layout and r.chip.fits_layout and r.chip.area_mm2]
    return math.exp(statistics.mean(math.log(r.chip.area_mm2 / r.model_mm2) for r in fit)) if fit else 1.0


def evaluate(tech=None) -> list[Row]:
    rows = [predict(c, tech) for c in CHIPS]
    k = fit_layout_factor(rows)
    return [dataclasses.replace(r, layout_factor=k) for r in rows]


def held_out_median(rows: list[Row]) -> float:
    return statistics.median(abs(r.area_error) for r in rows if not r.chip.fitted and r.area_error is not None)


POWER_NODES = ("28nm", "16nm", "14nm", "12nm")  # the 12-28 nm chips whose power the co-design budget rests on


def power_median(rows: list[Row], nodes: tuple[str, ...] | None = None) -> tuple[float, int]:
    """(median absolute peak-power error, count) over the rows with a published power (all held out: nothing
    is fitted on power); ``nodes``: only those nodes."""
    errs = [abs(r.power_error) for r in rows if r.power_error is not None and (nodes is None or r.chip.node in nodes)]
    return (statistics.median(errs) if errs else math.nan), len(errs)


def table_markdown(rows: list[Row]) -> str:
    head = ("| chip | node | model input | published area (mm^2) | model (cells + macros) | predicted | error | "
            "published power (W) | predicted peak (W) | error | fitted | source |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|")
    lines = [f"Layout factor (published layout / model area), fitted on the TPUv1 rows: "
             f"{rows[0].layout_factor:.2f}; applied to layout rows only.", "", head]
    for r in rows:
        c = r.chip
        pw = "-" if c.power_w is None else f"{c.power_w:.3g} ({c.activity})"
        pe = "-" if r.power_error is None else f"{100 * r.power_error:+.0f}%"
        area = ("- | " if c.area_mm2 is None else f"{c.area_mm2:.3g} ({c.area_scope}) | ") + f"{r.model_mm2:.3g} | "
        area += "- | - | " if r.area_error is None else f"{r.area_mm2:.3g} | {100 * r.area_error:+.0f}% | "
        lines.append(f"| {c.name} | {c.node} | {c.config} | {area}{pw} | {r.power_w:.3g} | {pe} | "
                     f"{'yes' if c.fitted else 'no'} | {c.source} |")
    held = [r for r in rows if not r.chip.fitted and r.area_error is not None]
    lines.append("")
    raw = statistics.median(abs(r.model_mm2 / r.chip.area_mm2 - 1) for r in held)
    lines.append(f"Held-out area rows: {len(held)} of {len(rows)} (not used to fit anything); median absolute area "
                 f"error {100 * held_out_median(rows):.0f}% (without the layout factor: {100 * raw:.0f}%).")
    med, n = power_median(rows)
    med_n, n_n = power_median(rows, POWER_NODES)
    lines.append(f"Peak power (with the synthesis overhead, technology table synth_*; its datapath scale fitted on "
                 f"NVDLA below, not on these rows; every row held out): median absolute error {100 * med:.0f}% over "
                 f"{n} chips; at 12-28 nm "
                 f"{100 * med_n:.0f}% over {n_n} chips (target <= 30% on >= 5: "
                 f"{'met' if n_n >= 5 and med_n <= 0.30 else 'not met'}).")
    return "\n".join(lines + ["", power_table(rows), "", fit_table(fit_datapath_scale())])


def power_table(rows: list[Row]) -> str:
    """The held-out peak-power rows at 12-28 nm: published vs model, the model's split (logic with its synthesis
    overhead, SRAM reads, leakage) and what the published figure covers that the model leaves out."""
    lines = ["Held-out peak power at 12-28 nm (every row held out; no power here is read by any fit):", "",
             "| chip | node | clock (MHz) | published (W) | model (W) | error | model: logic / SRAM / leakage (W) | "
             "published figure also covers (not modelled) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c = r.chip
        if r.power_error is None or c.node not in POWER_NODES:
            continue
        leak = r.power_w - r.logic_w - r.sram_w
        lines.append(f"| {c.name} | {c.node} | {c.clock_mhz:g} | {c.power_w:.3g} ({c.activity}) | {r.power_w:.3g} | "
                     f"{100 * r.power_error:+.0f}% | {r.logic_w:.3g} / {r.sram_w:.3g} / {leak:.3g} | "
                     f"{c.not_modelled or '-'} |")
    return "\n".join(lines)


def fit_table(fit: DatapathFit) -> str:
    """The fit points of synth_datapath_scale: NVDLA's published peak power per size vs the model at the fit."""
    lines = [f"Synthesised datapath scale (technology table synth_datapath_scale = {fit.table_scale:g}), fitted on the "
             f"NVDLA primer's seven 16 nm peak power estimates at 1 GHz (the fit points; not rows above): "
             f"{fit.scale:.3g} (published slope {fit.published_pj_per_mac:.3f} pJ per MAC-cycle; the model's at the "
             f"table's scale {fit.model_pj_per_mac:.3f}); the published intercept, {fit.intercept_mw:.0f} mW, is the "
             f"engines and control that do not grow with the MACs (not rebuilt).", "",
             "| NVDLA MACs (INT8) | MACs per tree (atomic C) | conv. buffer (KB) | published peak / average (mW) | "
             "model peak at the fit (mW) |", "|---|---|---|---|---|"]
    lines += [f"| {c.macs} | {c.atomic_c}{' (ours)' if c.atomic_c_ours else ''} | {c.cbuf_kb:g} | "
              f"{c.peak_mw:g} / {c.average_mw:g} | {q:.0f} |" for c, q in fit.rows]
    return "\n".join(lines)


def write_readme(rows: list[Row], path: str | Path = "docs/validation.md") -> bool:
    from analysis.report.markdown import write_between

    return write_between(path, README_BEGIN, README_END, table_markdown(rows))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help="write the table into docs/validation.md")
    args = ap.parse_args(argv)
    rows = evaluate()
    print(table_markdown(rows))
    if args.write and write_readme(rows):
        print("wrote README.md (area validation table)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
