"""The hardware/software contract: the hyperparameters a unit is built for that the trace's policy also used.

Each side owns its value once: the unit's config (the HCU's ``dre.hash_bits``: the code width its
XOR-accumulators compare, which sets its area and energy; the WTU's ``dre.wtu_buckets``: its bucket sorters)
and the policy that made the trace (ReSV's ``hash_bits`` and ``wtu_buckets``: the codes it clustered with and
the buckets its measured early exit walked; the trace's ``hw_contract``). A unit states its side
(``contract()``); :func:`check_contract` runs when a trace meets a platform, so a co-design sweep cannot price
one DRE and simulate another. A unit the platform does not build (no DRE) checks nothing.
"""

from __future__ import annotations

import dataclasses

from simulator.errors import VrexError
from simulator.tracer.trace_file import MetaLike, meta_record


def platform_contract(platform) -> dict[str, tuple[str, int]]:
    """What the platform's units are built for: key -> (unit, value)."""
    out: dict[str, tuple[str, int]] = {}
    for u in platform.units:
        for key, value in getattr(u, "contract", dict)().items():
            out[key] = (u.name, value)
    return out


def trace_contract(meta: MetaLike) -> dict[str, int]:
    """What the trace's policy used (its ``hw_contract``); a trace written before the record carries the values
    it set explicitly in ``kv_policy_params``."""
    rec = meta_record(meta)
    given = {f.name: getattr(rec.hw_contract, f.name) for f in dataclasses.fields(rec.hw_contract)}
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        params = rec.kv_policy_params
        given = {f.name: params[f.name] for f in dataclasses.fields(rec.hw_contract)
                 if isinstance(params.get(f.name), int)}
    return given


def check_contract(platform, meta: MetaLike) -> None:
    """One line naming both sides if the trace's policy and the platform's units disagree on a parameter."""
    rec = meta_record(meta)
    used = trace_contract(rec)
    for key, (unit, built) in platform_contract(platform).items():
        got = used.get(key)
        if got is not None and got != built:
            raise VrexError(f"trace of workload {rec.workload!r} was made with kv_policy.params.{key} = "
                            f"{got}, but {platform.name}'s {unit.upper()} is built for dre.{key} = {built}; set "
                            f"both to the same value (the hardware is priced for one, the trace made with the other)")
