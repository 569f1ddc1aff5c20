"""make validate-area: the README holds what the command prints; fitted chips stay out of the held-out median."""

from __future__ import annotations

from analysis.validate.area import CHIPS, evaluate, held_out_median, main, table_markdown


def test_readme_holds_the_printed_table(root, capsys):
    assert main([]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == table_markdown(evaluate())
    assert printed in (root / "docs" / "validation.md").read_text()


def test_held_out_chips_and_median():
    rows = evaluate()
    held = {c.name.split(" ")[0] for c in CHIPS if not c.fitted}
    assert len(held) >= 6  # distinct published chips never used to fit anything
    # the median is over the held-out rows only: changing a fitted row's published area leaves it unchanged
    before = held_out_median(rows)
    assert before == held_out_median([r for r in rows if not r.chip.fitted])
    assert all(r.model_mm2 > 0 and r.power_w > 0 for r in rows)


def test_chips_come_from_the_data_file_and_a_bad_entry_is_one_line(tmp_path, monkeypatch):
    import pytest

    import analysis.data
    from analysis.validate.area import BUILDERS, load_chips
    from simulator.errors import ConfigError

    assert {c.blocks for c in CHIPS} <= set(BUILDERS) and all(c.source and c.area_mm2 > 0 for c in CHIPS)
    bad = ('sources: {a: "a paper"}\nchips:\n  - {name: X, node: 28nm, vdd: 0.9, clock_mhz: 700, config: c, '
           'blocks: %s, area_mm2: 1, area_scope: s, source: a}\n')
    for blocks, key in (("nope", r"chips\[0\]\.blocks"), ("eyeriss, colour: red", r"chips\[0\]\.colour")):
        (tmp_path / "chips.yaml").write_text(bad % blocks)
        monkeypatch.setattr(analysis.data, "resolve", lambda p: tmp_path / p.split("/")[-1])
        with pytest.raises(ConfigError, match=rf"chips\.yaml: key '{key}'"):
            load_chips()
