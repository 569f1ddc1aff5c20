"""The figure toolkit every study and report shares: matplotlib without a display, axis labels and scales of
the design metrics, and writing a figure as PNG (and PDF).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

# metric -> (name, unit, factor from SI): axis labels of design-space figures
UNITS = {"frame_latency_mean_s": ("frame latency", "ms", 1e3), "decode_step_s": ("TPOT", "ms", 1e3),
         "energy_per_frame_j": ("energy per frame", "J", 1.0), "ttft_mean_s": ("TTFT", "ms", 1e3),
         "area_mm2": ("chip area", "mm$^2$", 1.0), "peak_power_w": ("peak power", "W", 1.0),
         "chip_peak_power_w": ("chip peak power", "W", 1.0), "system_peak_power_w": ("system peak power", "W", 1.0),
         "avg_power_w": ("average power", "W", 1.0)}


def label(metric: str, tex: bool = True) -> str:
    scen, _, m = metric.rpartition(".")
    name, unit, _ = UNITS.get(m, (m, "", 1.0))
    unit = unit if tex else unit.replace("$^2$", "^2")
    return f"{name}{' at ' + scen if scen else ''} ({unit})" if unit else f"{name}{' at ' + scen if scen else ''}"


def scale(metric: str) -> float:
    return UNITS.get(metric.rpartition(".")[2], ("", "", 1.0))[2]


def save_figure(fig, out: Path, name: str, tight: bool = True) -> list[Path]:
    """Write ``fig`` as PNG and PDF; ``tight=False`` keeps a layout the caller made (e.g. room for a legend)."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    if tight:
        fig.tight_layout()
    for p in paths:
        fig.savefig(p, dpi=130)
    plt.close(fig)
    return paths


def save_png(fig, path: Path, dpi: int = 150) -> Path:
    """Write ``fig`` (tight layout) as one PNG at ``path``, creating its folder; the figure is closed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path
