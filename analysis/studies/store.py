"""One store for saved points: sweeps, searches, sensitivity studies and the paper's evaluation.

A point is saved as one file ``DIR/points/<name>.<parquet|json>`` as soon as it is computed: a flat row as a
one-row Parquet table (sweep, explore, sensitivity), a nested record as JSON (the paper's figures). Every
study names its points by :func:`point_key`: a hash of the point's resolved configs (the dataclasses the
simulation ran, after every axis, scenario and override was applied) and the :func:`code_version`, so a
point is reused only for the same configs and the same code; a changed model or config recomputes it.

- **Atomic.** A file is written to a temporary name beside it and renamed (``simulator.safe_io``), so a killed
  process or a full disk never leaves half a point under a point's name.
- **Checked on read.** Each record carries its own name (``store_key``); a file that does not parse, has
  not exactly one row, or names another point is *damaged*. Reading for a resume sets it aside
  (``points/damaged/``, one warning line naming it) and the study recomputes it; reading for a plot or
  report raises one line naming the file (:class:`simulator.safe_io.DamagedFile`).
- **Superseded.** A resumed study moves the points it no longer asks for (made by other configs or another
  code version) to ``points/superseded/`` (one line), so the directory holds one row per current point.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from simulator import __version__
from simulator.safe_io import DamagedFile, atomic_write, read_json, read_parquet

KEY_COLUMN = "store_key"
FORMATS = ("parquet", "json")


def code_version(root: Path | None = None) -> str:
    """A hash of the simulator's code and the technology table (what every point's numbers depend on besides
    its configs)."""
    root = root or Path(__file__).resolve().parents[2]
    h = hashlib.sha256(__version__.encode())
    for p in sorted((root / "simulator").rglob("*.py")) + [root / "hwconfigs" / "tech" / "technology.yaml"]:
        h.update(str(p.relative_to(root)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _plain(x: Any) -> Any:
    """A config as plain data. A workload's model enters by its content (``model_config``), not by the path of
    its file, so a study directory that is moved (or a derived model file written elsewhere) keeps its keys."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if not (dataclasses.is_dataclass(x) and not isinstance(x, type)):
        return x
    d = dataclasses.asdict(x)
    if d.get("model_config") is not None:
        d.pop("model", None)
    return d


def point_key(configs: Any, code: str) -> str:
    """The saved point's name: a hash of its resolved configs (dataclasses, dicts, lists of them) and the
    code version."""
    what = {"configs": _plain(configs), "code": code}
    return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _warn(text: str) -> None:
    print(f"vrex: warning: {' '.join(text.split())}", file=sys.stderr)


class PointStore:
    """The saved points of one study directory (``DIR/points``)."""

    def __init__(self, directory: str | Path, fmt: str = "parquet"):
        if fmt not in FORMATS:
            raise ValueError(f"format {fmt!r}; one of {FORMATS}")
        self.dir = Path(directory) / "points"
        self.fmt = fmt

    def path(self, name: str) -> Path:
        return self.dir / f"{name}.{self.fmt}"

    def names(self) -> set[str]:
        """Names of the files present (not checked)."""
        return {p.stem for p in self.dir.glob(f"*.{self.fmt}")} if self.dir.is_dir() else set()

    def write(self, name: str, record: dict) -> Path:
        """Save one point atomically (an OSError, e.g. a full disk, raises OutputError naming the file)."""
        record = {**record, KEY_COLUMN: name}
        if self.fmt == "json":
            text = json.dumps(record, default=float)
            return atomic_write(self.path(name), lambda tmp: tmp.write_text(text), rescue=False)
        df = pd.DataFrame([record])
        return atomic_write(self.path(name), lambda tmp: df.to_parquet(tmp, index=False), rescue=False)

    def read(self, name: str) -> dict:
        """One point, checked: raises DamagedFile naming the file if it does not parse or is not that point."""
        path = self.path(name)
        if self.fmt == "json":
            rec = read_json(path)
            if not isinstance(rec, dict):
                raise DamagedFile(path, "not a JSON object")
        else:
            df = read_parquet(path)
            if len(df) != 1:
                raise DamagedFile(path, f"{len(df)} rows; a point file holds one")
            rec = df.iloc[0].to_dict()
        if rec.get(KEY_COLUMN) != name:
            raise DamagedFile(path, f"it records point {rec.get(KEY_COLUMN)!r}, not {name!r}")
        return rec

    def get(self, name: str, *, set_aside: bool = True) -> dict | None:
        """The point if it is saved and sound; a damaged one is set aside (``set_aside``) and None returned,
        so the study recomputes it; without ``set_aside`` the damage is an error."""
        if not self.path(name).is_file():
            return None
        try:
            return self.read(name)
        except DamagedFile as exc:
            if not set_aside:
                raise
            self._move(name, "damaged", f"{exc}; set aside in {self.dir / 'damaged'} and recomputed")
            return None

    def records(self, names: Iterable[str] | None = None, *, set_aside: bool = False) -> dict[str, dict]:
        """{name: record} of the given names (default: every file), checked as :meth:`get`."""
        out = {}
        for name in sorted(self.names() if names is None else set(names)):
            rec = self.get(name, set_aside=set_aside)
            if rec is not None:
                out[name] = rec
        return out

    def load(self, names: Iterable[str] | None = None, *, set_aside: bool = False) -> pd.DataFrame:
        """The points as one table (Parquet store), checked as :meth:`get`."""
        recs = self.records(names, set_aside=set_aside)
        return pd.DataFrame(list(recs.values())) if recs else pd.DataFrame()

    def set_aside_others(self, keep: Iterable[str]) -> int:
        """Move every point not in ``keep`` (other configs or another code version) to ``superseded/``."""
        stale = sorted(self.names() - set(keep))
        for name in stale:
            self._move(name, "superseded", None)
        if stale:
            _warn(f"{len(stale)} saved point(s) in {self.dir} were made by other configs or another code version; "
                  f"moved to {self.dir / 'superseded'}, their points are recomputed")
        return len(stale)

    def _move(self, name: str, where: str, note: str | None) -> None:
        d = self.dir / where
        d.mkdir(parents=True, exist_ok=True)
        self.path(name).replace(d / self.path(name).name)
        if note:
            _warn(note)
