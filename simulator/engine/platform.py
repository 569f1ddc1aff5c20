"""A platform (an accelerator or a GPU) is a set of units behind one interface; energy is priced from one table.

Units count, the table prices (the Accelergy way): each unit declares the op kinds it claims and implements
``cost(ops, mask) -> UnitCost(time_s, actions)`` for the ops assigned to it, plus its area; the platform's
memory system adds the traffic (SRAM, DRAM, offload tier) and its own actions; one pricing step multiplies
every action count by its entry in the price table (built from ``hwconfigs/tech/technology.yaml`` and the
config) into the energy parts (``Platform.energy_parts``).

Adding a unit is one module and one :func:`register_unit` line: a unit registered for a platform kind is
built by every platform of that kind, and claims its kinds from the units registered before it (a DRE unit
takes ``cluster`` from the vector unit). An op kind that no unit claims is an error. A unit owns its block: its
name in the area and power tables (``block``, default its name), its area, its prices and its actions per
cycle at rated activity (``peak_actions_per_cycle``); the platform derives from the registered units its
block table (:class:`BlockInfo`: area, peak power, chip power), its energy parts and its price table.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from simulator.config.tech import DEFAULT_TECH, TechTable, load_tech
from simulator.engine.ops import OpArrays, UnitCost
from simulator.engine.result import DYNAMIC_PARTS, BlockCharge, op_energy_col
from simulator.errors import VrexError


class Unit(Protocol):
    """One hardware unit: the op kinds it runs, what it charges per op, its area (mm^2, per core).

    ``cost`` must be row-wise: what it charges for an op depends on that op's row of ``ops`` alone (and the
    unit's config), so a platform may cost each distinct row once (``plan.TracePlan.unique``)."""

    name: str
    kinds: tuple[str, ...]
    area_mm2: float

    def cost(self, ops: OpArrays, mask: np.ndarray) -> UnitCost: ...

    # optional: ``block`` (its name in the area and power tables; default ``name``), ``prices()`` (action ->
    # Price) and ``peak_actions_per_cycle()`` (action -> count per cycle of one core at rated activity)


@dataclass(frozen=True)
class Price:
    """Energy of one action: the part of the energy breakdown it belongs to, pJ per action, and the
    technology-table or config entry it comes from."""

    part: str
    pj: float
    entry: str


@dataclass(frozen=True)
class BlockInfo:
    """One on-chip block of a core: its name in the area and power tables, its area (mm^2, per core), its
    dynamic energy per cycle at rated activity (pJ, per core) and how the run's chip power charges it
    (``charge``: the energy part and the units whose ops count)."""

    name: str
    area_mm2: float
    peak_pj_per_cycle: float
    charge: BlockCharge


def unit_block(u) -> str:
    """A unit's name in the area and power tables."""
    return getattr(u, "block", u.name)


def unit_prices(u) -> dict[str, Price]:
    return getattr(u, "prices", dict)()


def unit_peak_actions(u) -> dict[str, float]:
    """A unit's actions per cycle of one core at rated activity (none for a unit that declares none)."""
    return getattr(u, "peak_actions_per_cycle", dict)()


UnitFactory = Callable[["Platform"], "Unit | None"]
_REGISTRY: dict[str, dict[str, UnitFactory]] = {"accelerator": {}, "gpu": {}}


def register_unit(platform_kind: str, name: str, factory: UnitFactory) -> None:
    """Register a unit for every platform of ``platform_kind``; ``factory(platform)`` builds it (or returns
    None where the platform's config leaves it out). Later units claim their kinds over earlier ones."""
    if platform_kind not in _REGISTRY:
        raise ValueError(f"unknown platform kind {platform_kind!r}; known: {', '.join(_REGISTRY)}")
    _REGISTRY[platform_kind][name] = factory


def unregister_unit(platform_kind: str, name: str) -> None:
    _REGISTRY[platform_kind].pop(name, None)


def default_tech() -> TechTable:
    """The default technology table, read once per version of the file (its path, size and modification
    time), as every platform built without a table uses it."""
    st = Path(DEFAULT_TECH).stat()
    return _tech_at(str(DEFAULT_TECH), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=4)
def _tech_at(path: str, _size: int, _mtime_ns: int) -> TechTable:
    return load_tech(path)


def names_column(codes: np.ndarray, names: Sequence[str], array_dtype=object):
    """The column of strings ``np.asarray(names, dtype=array_dtype)[codes]`` as pandas stores that array (same
    dtype and values), built from the codes without converting each string."""
    names = list(names)
    dtype = pd.Series(np.array(names[:1], dtype=array_dtype)).dtype if len(codes) else None
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow":
        arr = pa.DictionaryArray.from_arrays(pa.array(np.asarray(codes, dtype=np.int32)),
                                             pa.array(names, type=pa.large_string())).dictionary_decode()
        return pd.arrays.ArrowStringArray(arr, dtype=dtype)
    return np.asarray(names, dtype=array_dtype)[np.asarray(codes, dtype=np.int64)]


class Platform:
    """Base of the accelerator and GPU platforms: units built from the registry and the kind -> unit map."""

    kind = "platform"

    def build_units(self) -> None:
        self.units: list[Unit] = []  # built in registration order: a factory may use the units before it
        for factory in _REGISTRY[self.kind].values():
            u = factory(self)
            if u is not None:
                self.units.append(u)
        self.unit_of_kind: dict[str, str] = {}
        for u in self.units:
            self.unit_of_kind.update({k: u.name for k in u.kinds})

    def unit(self, name: str) -> Unit:
        return next(u for u in self.units if u.name == name)

    @property
    def n_executors(self) -> int:
        """Executors the replay runs ops on (``executors`` maps each unit to one)."""
        return max(self.executors.values()) + 1

    @property
    def energy_parts(self) -> tuple[str, ...]:
        """The dynamic energy parts (``e_<part>_pj``) of this platform's ops: the named parts of
        ``result.ENERGY_PARTS``, then any other part a registered unit prices its actions in."""
        extra = [pr.part for pr in self.prices().values() if pr.part not in DYNAMIC_PARTS]
        return DYNAMIC_PARTS + tuple(dict.fromkeys(extra))

    # ---- the block table, derived from the registered units ----
    def unit_blocks(self) -> list[BlockInfo]:
        """One block per unit with area or rated activity, in registration order. Its energy per cycle at rated
        activity is its peak actions at its prices; the run charges it the energy part of its peak actions
        (of its prices, if it declares none). Blocks that share a part (the DRE's HCU, WTU and KVMU share
        ``dre``) are charged the ops of their own unit; the first of them also every other op's energy in
        that part, so that every pJ is charged to one block."""
        table = self.prices()
        rows = []
        for u in self.units:
            peak = unit_peak_actions(u)
            pj = sum(n * table[a].pj for a, n in peak.items())
            if u.area_mm2 <= 0 and pj <= 0:
                continue
            parts = [table[a].part for a in peak] or [pr.part for pr in unit_prices(u).values()]
            rows.append((u, parts[0] if parts else None, pj))
        sharing: dict[str, list[str]] = {}
        for u, part, _ in rows:
            if part is not None:
                sharing.setdefault(part, []).append(u.name)
        out = []
        for u, part, pj in rows:
            owners = sharing.get(part, [u.name])
            if len(owners) == 1:
                charge = BlockCharge(part)
            elif owners[0] == u.name:
                charge = BlockCharge(part, excluding=tuple(owners[1:]))
            else:
                charge = BlockCharge(part, unit=u.name)
            out.append(BlockInfo(unit_block(u), u.area_mm2, pj, charge))
        return out

    def blocks(self) -> list[BlockInfo]:
        """Every on-chip block of one core: the units' (``unit_blocks``) and the memory system's."""
        return self.unit_blocks()

    def block_charges(self) -> dict[str, BlockCharge]:
        """How the run's chip power charges each block (``results.metrics.chip_blocks``)."""
        return {b.name: b.charge for b in self.blocks()}

    def unit_index(self, unit: pd.Series) -> np.ndarray:
        """Each op's executor (``executors``) from its unit name (as in ``op_costs``' ``unit`` column)."""
        codes, names = pd.factorize(unit)
        return np.asarray([self.executors[n] for n in names], dtype=np.int64)[codes]

    def assign(self, kind: np.ndarray) -> np.ndarray:
        """Each op's unit name; a kind that no unit of this platform claims is an error."""
        unit = pd.Series(kind).map(self.unit_of_kind)
        if unit.isna().any():
            missing = sorted(set(pd.Series(kind)[unit.isna()]))
            raise VrexError(f"{self.name}: no unit runs op kind(s) {', '.join(missing)} "
                            f"(units: {', '.join(u.name for u in self.units)})")
        return unit.to_numpy(dtype=object)

    def unit_costs(self, ops: OpArrays, unit: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray],
                                                                   dict[str, np.ndarray]]:
        """Every unit's cost of its own ops: (time_s per op, summed actions, extra columns)."""
        time_s = np.zeros(len(ops))
        actions: dict[str, np.ndarray] = {}
        extra: dict[str, np.ndarray] = {}
        for u in self.units:
            c = u.cost(ops, unit == u.name)
            time_s = time_s + c.time_s
            for name, count in c.actions.items():
                actions[name] = actions[name] + count if name in actions else count
            extra.update(c.extra)
        return time_s, actions, extra

    def system_peak_w(self) -> dict[str, float]:
        """System peak power by part (W); accelerators only (a GPU's board power is its own config)."""
        return {}

    def io_area_mm2(self) -> dict[str, float]:
        return {}

    # ---- what the numbers rest on ----
    def tech_prefixes(self) -> tuple[str, ...]:
        """The technology-table entries this platform's numbers use (dotted-name prefixes)."""
        return ()

    def assumptions(self) -> list[dict]:
        """The technology-table entries the run depends on that are not direct measurements (kind ``derived``
        or ``assumption``): entry, value, unit, source, kind."""
        prefixes = self.tech_prefixes()
        return [{"entry": e["name"], "value": e["value"], "unit": e["unit"], "source": e["source"], "kind": e["kind"]}
                for e in self.tech.table.entries() if e["kind"] != "measured" and e["name"].startswith(prefixes)]

    # ---- energy: one pricing step ----
    def prices(self) -> dict[str, Price]:
        """The price table: action -> Price, from the memory system and every unit that prices actions."""
        table = dict(self.memory_prices())
        for u in self.units:
            table.update(unit_prices(u))
        return table

    def memory_prices(self) -> dict[str, Price]:
        return {}

    def price(self, actions: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
        """Dynamic energy (pJ) per op by part (``e_<part>_pj``) from the action counts."""
        table = self.prices()
        energy = {op_energy_col(p): np.zeros(n) for p in self.energy_parts}
        for name, count in actions.items():
            if name not in table:
                raise VrexError(f"{self.name}: action {name!r} has no price (add it to the price table)")
            pr = table[name]
            col = op_energy_col(pr.part)
            energy[col] = energy[col] + count * pr.pj
        return energy
