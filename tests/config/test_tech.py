"""The technology table: every entry carries its source and kind as data, checked by the schema."""

from __future__ import annotations

import pytest
import yaml

from simulator.config.tech import DEFAULT_TECH, KINDS, load_tech
from simulator.errors import ConfigError


def test_every_entry_has_source_and_kind():
    rows = load_tech().entries()
    assert len(rows) > 50
    for r in rows:
        assert set(r) == {"name", "value", "unit", "source", "kind"}
        assert r["kind"] in KINDS and r["source"].strip() and r["unit"].strip(), r
    names = {r["name"] for r in rows}
    assert {"base.fp16_mult_um2", "nodes.14nm.area_scale", "nodes.14nm.energy_poly", "dram_pj_per_bit.lpddr5"} <= names
    assert {r["kind"] for r in rows} == set(KINDS)


def _write(tmp_path, edit):
    data = yaml.safe_load(DEFAULT_TECH.read_text())
    edit(data)
    p = tmp_path / "tech.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


@pytest.mark.parametrize("edit, key, needle", [
    (lambda d: d["base"]["int8_add_pj"].update(kind="guess"), "base.int8_add_pj.kind", "measured"),
    (lambda d: d["base"]["int8_add_pj"].pop("source"), "base.int8_add_pj", "source"),
    (lambda d: d["base"]["int8_add_pj"].update(source=" "), "base.int8_add_pj.source", "empty"),
    (lambda d: d["nodes"]["14nm"]["vdd"].update(kind="x"), "nodes.14nm.vdd.kind", "assumption"),
    (lambda d: d["base"].pop("fp32_add_um2"), "base", "fp32_add_um2"),
    (lambda d: d["base"].update(mystery={"value": 1, "unit": "x", "source": "s", "kind": "measured"}),
     "base.mystery", "unknown"),
])
def test_bad_entries_are_one_line_errors(tmp_path, edit, key, needle):
    with pytest.raises(ConfigError) as e:
        load_tech(_write(tmp_path, edit))
    msg = str(e.value)
    assert "\n" not in msg and key in msg and needle in msg
