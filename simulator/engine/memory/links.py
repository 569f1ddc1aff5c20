"""Measured models of the offload path: a PCIe copy and an NVMe SSD's reads (used by ``OffloadTier``).

PCIe copy (host memory behind the link): one transfer of ``b`` bytes takes ``setup + b / rate`` seconds,
where ``rate`` is the raw lane rate times the achieved efficiency of its direction, and, for pageable host
buffers, a host staging copy in series (``1 / rate = 1 / link + 1 / staging``). Copies issued one after
another on a copy engine pay their setup each. The efficiencies differ by direction because the two
directions are different PCIe transactions: data the device *reads* from host memory comes back as
completions to its read requests; data the device *writes* (a GPU's device-to-host copy, an SSD returning
read data) travels as posted writes. Values are fitted by ``make calibrate`` (analysis/calibrate/links.py)
on published copy-throughput measurements and written into the configs.

NVMe SSD reads: a request of ``s`` bytes moves ``s`` rounded up to whole 4 KiB logical blocks over the
link and reads ``ceil(s / page)`` flash pages (a 512-byte read still costs a block on the link and a page
in the flash). Each page read occupies one of ``parallel_units`` units (dies / planes over the channels)
for ``read_latency_us``; with ``o`` page reads outstanding spread at random over ``U`` units the expected
number of busy units is ``U (1 - (1 - 1/U)^o)`` (balls into bins). With ``q`` requests in flight the
sustained rate is the lowest of

    q x s / (latency + s / bandwidth)        (Little's law: each request waits for its pages, then moves)
    bandwidth                                (the lower of the link's and the drive's sequential rate)
    busy(q x pages per request) / latency x page    (the flash units)

and a transfer of ``B`` bytes takes ``max(B / rate, latency + block / bandwidth)`` (at least one request's
time). Smaller requests at equal bytes never go faster (each term falls with ``s``; rounding only adds
bytes) and a deeper queue is never slower (each term grows with ``q``).
"""

from __future__ import annotations

import math

import numpy as np


def copy_s(nbytes, transfers, rate_bytes_per_s: float, setup_s: float) -> np.ndarray:
    """PCIe copies of ``nbytes`` in ``transfers`` copies issued back to back: setup each, then the bytes."""
    nbytes = np.asarray(nbytes, dtype=np.float64)
    n = np.maximum(np.asarray(transfers, dtype=np.float64), 1.0)
    return np.where(nbytes > 0, n * setup_s + nbytes / rate_bytes_per_s, 0.0)


def pageable_rate(link_rate: float, staging_rate: float) -> float:
    """Achieved rate of a pageable copy: the host staging copy in series with the link."""
    if staging_rate <= 0:
        return link_rate
    return 1.0 / (1.0 / link_rate + 1.0 / staging_rate)


LBA_BYTES = 4096.0  # NVMe logical block: the unit a read moves over the link (4 KiB formats)


def busy_units(outstanding, units: int) -> np.ndarray:
    """Expected busy units when ``outstanding`` page reads land at random on ``units`` units."""
    o = np.maximum(np.asarray(outstanding, dtype=np.float64), 1.0)
    if units <= 1:
        return np.ones_like(o)
    return units * -np.expm1(o * np.log1p(-1.0 / units))


def ssd_read_rate(request_bytes, queue_depth, page_bytes: float, units: int, latency_s: float,
                  bandwidth: float) -> np.ndarray:
    """Sustained read rate (bytes/s of requested data rounded to blocks) at one request size and queue depth."""
    s = np.maximum(np.ceil(np.asarray(request_bytes, dtype=np.float64) / LBA_BYTES), 1.0) * LBA_BYTES
    q = np.asarray(queue_depth, dtype=np.float64)
    little = q * s / (latency_s + s / bandwidth)
    pages = np.ceil(s / page_bytes)
    flash = busy_units(q * pages, units) / latency_s * (s / pages)
    return np.minimum(np.minimum(little, bandwidth), flash)


def ssd_read_s(nbytes, requests, queue_depth: int, page_bytes: float, units: int, latency_s: float,
               bandwidth: float) -> np.ndarray:
    """Time to read ``nbytes`` in ``requests`` equal requests with ``queue_depth`` in flight (see module doc)."""
    nbytes = np.asarray(nbytes, dtype=np.float64)
    r = np.maximum(np.asarray(requests, dtype=np.float64), 1.0)
    size = nbytes / r
    blocks = r * np.maximum(np.ceil(size / LBA_BYTES), 1.0) * LBA_BYTES
    rate = ssd_read_rate(size, queue_depth, page_bytes, units, latency_s, bandwidth)
    t = np.maximum(blocks / rate, latency_s + LBA_BYTES / bandwidth)
    return np.where(nbytes > 0, t, 0.0)


def ssd_iops(request_bytes: float, queue_depth: int, page_bytes: float, units: int, latency_s: float,
             bandwidth: float) -> float:
    """Steady-state requests per second at one request size and queue depth (what fio reports)."""
    s = max(math.ceil(request_bytes / LBA_BYTES), 1) * LBA_BYTES
    return float(ssd_read_rate(request_bytes, queue_depth, page_bytes, units, latency_s, bandwidth)) / s
