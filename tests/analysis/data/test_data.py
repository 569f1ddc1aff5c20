"""The calibrations' measurement data live in analysis/data/*.yaml; a damaged entry is one line naming the file,
the entry and the key."""

from __future__ import annotations

import dataclasses

import pytest

from analysis.data import records, size_bytes
from simulator.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Point:
    name: str
    source: str
    value: float
    role: str = "fit"


DATA = {"sources": {"a": "a published table"}, "points": [{"name": "p", "source": "a", "value": 1.5}]}


def test_entries_become_records():
    assert records(DATA, "points", Point, "f.yaml") == [Point("p", "a", 1.5)]
    assert size_bytes("16 MiB", "f.yaml", "k") == 16 * 2**20 and size_bytes(4096, "f.yaml", "k") == 4096


@pytest.mark.parametrize("entry,key", [({"name": "p", "source": "a", "value": 1, "colour": 3}, r"points\[0\]\.colour"),
                                       ({"name": "p", "source": "a"}, r"points\[0\]\.value"),
                                       ({"name": "p", "source": "b", "value": 1}, r"points\[0\]\.source")])
def test_a_bad_entry_names_the_file_and_key(entry, key):
    with pytest.raises(ConfigError, match=rf"f\.yaml: key '{key}'"):
        records({**DATA, "points": [entry]}, "points", Point, "f.yaml")
    with pytest.raises(ConfigError, match="f.yaml: key 'k'"):
        size_bytes("16 MB", "f.yaml", "k")


def test_the_link_points_are_read_from_the_data_file():
    from analysis.calibrate import links

    assert len(links.LINK_POINTS) > 30 and {p.role for p in links.LINK_POINTS} == {"fit", "held out"}
    assert all(p.source in links.SOURCES for p in links.LINK_POINTS + links.SSD_POINTS + links.KERNEL_POINTS)
