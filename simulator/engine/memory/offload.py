"""The offload tier: an NVMe SSD or host memory behind PCIe, shared by accelerators and GPUs.

A transfer of B bytes in R requests (contiguous runs; longer runs are split at ``max_request_kb``)
takes

    latency + max(B / bandwidth, (ceil(R / queue_depth) - 1) x latency)

seconds: the first request's latency is exposed, then either the bandwidth or the request rate
(``queue_depth`` requests in flight, each ``latency`` long: Little's law) bounds the rest. Bandwidth
is the lower of the PCIe link's and the device's. So a fetch of scattered tokens pays a latency per
``queue_depth`` requests, and a cluster-contiguous fetch of the same bytes amortises it.

Energy: the link at ``w_per_lane`` per lane (at another generation than ``w_per_lane_gen``: see
``engine/physical/io.py``) while it carries data at full rate (V-Rex uses 3 W per
lane at full load) plus the device at its active power while it transfers; the device's idle
power is static (charged over the run by the metrics).

Measured refinements (``simulator/engine/memory/links.py``, values fitted by ``make calibrate``): the link runs at
its measured efficiency per direction; host-memory copies each pay ``link.setup_us`` (a copy call and its
copy-engine start, not overlapped) and, from pageable buffers, a host staging copy in series; an SSD with
``parallel_units`` reads whole ``page_kb`` pages on that many flash units (request size and queue depth set
how many are busy) instead of the latency/queue-depth bound above.

A GPU baseline's own copy pattern (the trace's ``kv_transfer``, from the policy's code: see
``simulator/kvpolicy/offloaded.py``) overrides the config's ``host_buffers`` and sets the copy calls per KV
transfer (:meth:`OffloadTier.with_transfer`, :meth:`OffloadTier.copy_calls`); without one, a KV transfer is
one copy call from the config's buffers.
"""

from __future__ import annotations

import dataclasses

import numpy as np

import simulator.engine.memory.links as links
from simulator.config.hardware import OffloadConfig
from simulator.engine.physical.io import link_w_per_lane
from simulator.engine.platform import Price, default_tech


class OffloadTier:
    def __init__(self, cfg: OffloadConfig, tech=None):
        self.cfg = cfg
        d = cfg.device
        lk = cfg.link
        self.link_bytes_per_s = lk.bytes_per_s
        self.link_write_bytes_per_s = lk.write_bytes_per_s
        self.wire_bytes_per_s = (lk.bytes_per_s, lk.write_bytes_per_s)  # the link itself busy (energy)
        if cfg.tier == "host_memory" and lk.host_buffers == "pageable":
            self.link_bytes_per_s = links.pageable_rate(self.link_bytes_per_s, lk.staging_read_gbps * 1e9)
            self.link_write_bytes_per_s = links.pageable_rate(self.link_write_bytes_per_s, lk.staging_write_gbps * 1e9)
        self.read_bytes_per_s = min(self.link_bytes_per_s, d.read_gbps * 1e9)
        self.write_bytes_per_s = min(self.link_write_bytes_per_s, d.write_gbps * 1e9)
        self.setup_s = lk.setup_us * 1e-6
        self.capacity_bytes = cfg.capacity_gib * 2**30
        self.max_request_bytes = d.max_request_kb * 1024
        self.link_w = cfg.link.lanes * link_w_per_lane(cfg.link, tech or default_tech())
        self.idle_w = d.idle_w
        self.read_latency_s = d.read_latency_us * 1e-6

    transfer: dict | None = None  # the software's copy pattern (None: one copy per KV transfer, config buffers)

    def with_transfer(self, transfer: dict | None) -> "OffloadTier":
        """This tier as a GPU baseline's software uses it: its ``kv_transfer`` pattern (host buffers, copy calls)."""
        if not transfer:
            return self
        out = OffloadTier(dataclasses.replace(self.cfg, link=dataclasses.replace(
            self.cfg.link, host_buffers=transfer["host_buffers"])))
        out.transfer = dict(transfer)
        return out

    def copy_calls(self, runs) -> np.ndarray:
        """Copy calls of a KV transfer with ``runs`` contiguous runs, each paying ``link.setup_us``: one without
        a pattern; ``copies_each`` per transfer (gathered first) or per run (e.g. ReKV's K and V per block)."""
        runs = np.maximum(np.asarray(runs, dtype=np.float64), 1.0)
        p = self.transfer
        if p is None:
            return np.ones_like(runs)
        return p["copies_each"] * (runs if p["copies"] == "run" else np.ones_like(runs))

    def traffic(self, read_bytes, write_bytes, runs, copies=None) -> dict[str, np.ndarray]:
        """Per-op offload columns: link read/write time and read latency (overlappable).
        ``copies``: copy calls per op that pay ``link.setup_us`` (default: one per request)."""
        read_bytes = np.asarray(read_bytes, dtype=np.float64)
        return {"link_read_s": self.transfer_s(read_bytes, runs, copies=copies),
                "link_write_s": self.transfer_s(write_bytes, runs, write=True, copies=copies),
                "link_read_latency_s": np.where(read_bytes > 0, self.read_latency_s, 0.0)}

    @staticmethod
    def actions(read_bytes, write_bytes) -> dict[str, np.ndarray]:
        """Bytes read from and written to the tier (priced by :meth:`prices`)."""
        return {"offload_read_byte": np.asarray(read_bytes, dtype=np.float64),
                "offload_write_byte": np.asarray(write_bytes, dtype=np.float64)}

    def prices(self) -> dict[str, Price]:
        """pJ per byte moved: the link at its per-lane power while it carries data, plus the device at its
        active power while it transfers."""
        return {"offload_read_byte": Price("offload", float(self.energy_pj(1.0)), "offload.link.w_per_lane, "
                                           "offload.device.active_read_w"),
                "offload_write_byte": Price("offload", float(self.energy_pj(1.0, write=True)),
                                            "offload.link.w_per_lane, offload.device.active_write_w")}

    def requests(self, nbytes, runs) -> np.ndarray:
        """Requests a transfer takes: its runs, split at the largest request size (at least one)."""
        nbytes = np.asarray(nbytes, dtype=np.float64)
        by_size = np.ceil(nbytes / self.max_request_bytes)
        return np.where(nbytes > 0, np.maximum(np.maximum(np.asarray(runs, dtype=np.float64), by_size), 1.0), 0.0)

    def transfer_s(self, nbytes, runs=0, write: bool = False, copies=None) -> np.ndarray:
        nbytes = np.asarray(nbytes, dtype=np.float64)
        d = self.cfg.device
        lat = (d.write_latency_us if write else d.read_latency_us) * 1e-6
        bw = self.write_bytes_per_s if write else self.read_bytes_per_s
        reqs = self.requests(nbytes, runs)
        if d.parallel_units > 0 and not write:  # an SSD's reads: pages on parallel flash units
            t = links.ssd_read_s(nbytes, reqs, d.queue_depth, max(d.page_kb, 1) * 1024.0, d.parallel_units, lat, bw)
        else:
            waves = np.ceil(reqs / d.queue_depth)
            t = lat + np.maximum(nbytes / bw, (waves - 1) * lat)
        calls = reqs if copies is None else np.maximum(np.asarray(copies, dtype=np.float64), 1.0)
        t = t + calls * self.setup_s  # copy calls issued one after another each pay their setup
        return np.where(nbytes > 0, t, 0.0)

    def energy_pj(self, nbytes, write: bool = False) -> np.ndarray:
        nbytes = np.asarray(nbytes, dtype=np.float64)
        d = self.cfg.device
        dev_w, dev_bw = (d.active_write_w, d.write_gbps) if write else (d.active_read_w, d.read_gbps)
        link_rate = self.wire_bytes_per_s[1 if write else 0]  # the link busy at its rate (not while staging)
        joules = nbytes / link_rate * self.link_w + nbytes / (dev_bw * 1e9) * dev_w
        return joules * 1e12


class NoOffload:
    """A platform without an offload tier: nothing may be moved to it (``kv_memory.run_status`` reports such
    points as out of memory or not runnable before any cost is computed)."""

    read_latency_s = 0.0
    idle_w = 0.0
    transfer = None

    def with_transfer(self, transfer: dict | None) -> "NoOffload":
        return self

    def transfer_s(self, nbytes, runs=0, write: bool = False, copies=None) -> np.ndarray:
        nbytes = np.asarray(nbytes, dtype=np.float64)
        if nbytes.any():
            raise ValueError("KV bytes sent to a platform without an offload tier")
        return np.zeros_like(nbytes)

    def energy_pj(self, nbytes, write: bool = False) -> np.ndarray:
        return np.zeros_like(np.asarray(nbytes, dtype=np.float64))

    traffic = OffloadTier.traffic
    copy_calls = OffloadTier.copy_calls
    actions = staticmethod(OffloadTier.actions)

    def prices(self) -> dict[str, Price]:
        return {"offload_read_byte": Price("offload", 0.0, "no offload tier"),
                "offload_write_byte": Price("offload", 0.0, "no offload tier")}
