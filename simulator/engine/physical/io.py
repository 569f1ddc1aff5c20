"""The chip's I/O PHYs and the system's peak power: what the DRAM interface and the offload link cost.

- **Area** (mm^2, on the die): a DRAM PHY per interface (LPDDR: one per 16-bit channel; HBM: one per stack)
  and a PCIe PHY per lane, larger per generation. Technology-table entries ``lpddr_phy_mm2_per_x16``,
  ``hbm_phy_mm2_per_stack``, ``pcie_phy_mm2_per_lane_gen3`` (a transmitter and a receiver, from a published
  28 nm PCIe Gen4 transmitter), ``pcie_phy_area_per_gen``, held on every node: PHYs are mostly analogue and I/O
  and scale little.
- **Power**: the DRAM's energy per bit (``dram_pj_per_bit``) already holds device and interface, so the DRAM
  PHY has no power of its own here. The link's full-load power per lane is the config's ``w_per_lane``
  (V-Rex: 3 W per lane, stated for PCIe 3.0) stated at generation ``w_per_lane_gen``; at another generation
  the PHY's power moves with the lane rate (``pcie_phy_pj_per_bit``, a transmitter's and a receiver's energy
  per bit of one direction, x the raw bit rate x both directions), or, with ``power_scaling: rate``, the whole
  per-lane power scales with the rate (the pessimistic end).
  Either way a faster link costs more power per lane than a slower one, never the same.
- **System peak power** (W): chip at its peak + DRAM at its peak bandwidth + link at full load + the offload
  device at its larger active power.
"""

from __future__ import annotations

from simulator.config.hardware import PCIE_GBPS_PER_LANE

# pins per LPDDR channel and per HBM stack (JEDEC): 16-bit LPDDR4X/5/5X channels, 1024-bit HBM2/2e stacks
LPDDR_CHANNEL_BITS = 16
HBM_STACK_BITS = 1024
# data rate per pin (Gb/s) of the DRAM types, to turn a bandwidth into a pin count (JEDEC speed grades the
# configs use: LPDDR5-6400, LPDDR5X-8533, LPDDR4X-4266, HBM2e 3.6 Gb/s, DDR4-3200)
PIN_GBPS = {"lpddr4x": 4.266, "lpddr5": 6.4, "lpddr5x": 8.533, "hbm2e": 3.6, "ddr4": 3.2}
# raw signalling rate per lane and direction (GT/s; 128b/130b encoding from gen 3 on)
PCIE_GT_S = {3: 8.0, 4: 16.0, 5: 32.0}


def _b(tech, key: str) -> float:
    """A base-node entry of a technology table (``TechTable``) or point (``TechPoint``)."""
    return tech.base(key) if callable(tech.base) else float(tech.base[key].value)


def dram_interfaces(dram) -> tuple[str, int]:
    """(kind, count) of the DRAM PHYs a config needs: x16 LPDDR channels or HBM stacks (rounded up)."""
    pins = dram.bandwidth_gbps * 8 / PIN_GBPS[dram.type]
    if dram.type == "hbm2e":
        return "hbm_stack", max(1, -(-round(pins) // HBM_STACK_BITS))
    return "x16_channel", max(1, -(-round(pins) // LPDDR_CHANNEL_BITS))


def dram_phy_mm2(dram, tech) -> float:
    kind, n = dram_interfaces(dram)
    return n * _b(tech, "hbm_phy_mm2_per_stack" if kind == "hbm_stack" else "lpddr_phy_mm2_per_x16")


def pcie_phy_mm2(link, tech) -> float:
    return link.lanes * _b(tech, "pcie_phy_mm2_per_lane_gen3") * _b(tech, "pcie_phy_area_per_gen") ** (link.gen - 3)


def io_area_mm2(hw, tech) -> dict[str, float]:
    """Die area of the I/O PHYs (mm^2): ``dram_phy`` and ``pcie_phy`` (none without an offload link)."""
    out = {"dram_phy": dram_phy_mm2(hw.dram, tech)}
    if hw.offload is not None:
        out["pcie_phy"] = pcie_phy_mm2(hw.offload.link, tech)
    return out


def phy_w_per_lane(gen: int, tech) -> float:
    """A PCIe lane's PHY power at full load (W): both directions at the raw rate."""
    return _b(tech, "pcie_phy_pj_per_bit") * 1e-12 * PCIE_GT_S[gen] * 1e9 * 2


def link_w_per_lane(link, tech) -> float:
    """Full-load power per lane (W) at the link's generation (``w_per_lane`` is stated at ``w_per_lane_gen``)."""
    ref = link.w_per_lane_gen or link.gen
    if ref == link.gen:
        return link.w_per_lane
    if link.power_scaling == "rate":
        return link.w_per_lane * PCIE_GBPS_PER_LANE[link.gen] / PCIE_GBPS_PER_LANE[ref]
    return link.w_per_lane + phy_w_per_lane(link.gen, tech) - phy_w_per_lane(ref, tech)


def system_peak_w(hw, chip_w: float, dram_pj_per_bit: float, tech) -> dict[str, float]:
    """System power with every part busy at once (W), by part: ``chip`` (given), ``dram`` at its peak
    bandwidth, ``link`` at full load, ``offload_device`` at its larger active power."""
    out = {"chip": chip_w, "dram": hw.dram.bandwidth_gbps * 8e9 * dram_pj_per_bit * 1e-12}
    if hw.offload is not None:
        d = hw.offload.device
        out["link"] = hw.offload.link.lanes * link_w_per_lane(hw.offload.link, tech)
        out["offload_device"] = max(d.active_read_w, d.active_write_w)
    return out
