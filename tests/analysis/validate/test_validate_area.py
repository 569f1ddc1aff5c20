"""make validate-area: the README holds what the command prints; fitted chips stay out of the held-out median."""

from __future__ import annotations

import statistics

import pytest

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

    assert {c.blocks for c in CHIPS} <= set(BUILDERS) and all(c.source for c in CHIPS)
    assert all(c.area_mm2 is None or c.area_mm2 > 0 for c in CHIPS)
    assert all(c.area_mm2 is not None or c.power_w is not None for c in CHIPS)  # a row compares something
    bad = ('sources: {a: "a paper"}\nchips:\n  - {name: X, node: 28nm, vdd: 0.9, clock_mhz: 700, config: c, '
           'blocks: %s, area_mm2: 1, area_scope: s, source: a}\n')
    for blocks, key in (("nope", r"chips\[0\]\.blocks"), ("eyeriss, colour: red", r"chips\[0\]\.colour")):
        (tmp_path / "chips.yaml").write_text(bad % blocks)
        monkeypatch.setattr(analysis.data, "resolve", lambda p: tmp_path / p.split("/")[-1])
        with pytest.raises(ConfigError, match=rf"chips\.yaml: key '{key}'"):
            load_chips()


def test_held_out_power_rows_at_the_budget_nodes():
    """Issue 32: peak power is checked on held-out 12-28 nm chips with their clocks; none of them is fitted, each
    row's split adds up to its total, and the power table names what each published figure covers beyond the
    model. (The <= 30% target is reported, not asserted: the table says whether it is met.)"""
    from analysis.validate.area import POWER_NODES, power_median, power_table

    rows = evaluate()
    power = [r for r in rows if r.power_error is not None and r.chip.node in POWER_NODES]
    assert len({r.chip.name for r in power}) >= 5
    assert not any(r.chip.fitted and r.chip.fits_layout for r in power)  # no power row sets a parameter
    for r in power:
        assert r.chip.clock_mhz > 0 and 0 < r.logic_w + r.sram_w < r.power_w  # leakage is the rest, > 0
        assert r.chip.name in power_table(rows)
    med, n = power_median(rows, POWER_NODES)
    assert n == len(power) and med == pytest.approx(statistics.median(abs(r.power_error) for r in power))


def test_power_scales_with_the_clock():
    """Peak power is per cycle x the clock (+ leakage): doubling a chip's clock more than doubles nothing and
    leaves its leakage alone."""
    import dataclasses

    from analysis.validate.area import predict

    chip = next(c for c in CHIPS if c.blocks == "tesla_npu")
    slow, fast = predict(chip), predict(dataclasses.replace(chip, clock_mhz=2 * chip.clock_mhz))
    assert fast.logic_w == pytest.approx(2 * slow.logic_w) and fast.sram_w == pytest.approx(2 * slow.sram_w)
    assert fast.power_w - fast.logic_w - fast.sram_w == pytest.approx(slow.power_w - slow.logic_w - slow.sram_w)


def test_datapath_scale_is_the_fit_on_nvdla_only():
    """Issue 32: the technology table's synth_datapath_scale is what the fit on the NVDLA primer's seven 16 nm peak
    powers computes (a changed data point or model would show here); the fit reads those points only (no chip row),
    matches their slope per MAC, and a larger published slope gives a larger scale."""
    import dataclasses

    from analysis.validate.area import fit_datapath_scale, load_nvdla

    fit = fit_datapath_scale()
    assert fit.scale == pytest.approx(fit.table_scale, rel=5e-3)
    assert fit.model_pj_per_mac == pytest.approx(fit.published_pj_per_mac, rel=5e-3)
    assert len(fit.rows) == 7 and fit.intercept_mw > 0  # the engines that do not grow with the MACs
    # at the fit, the model (no intercept) stays below each published peak and within it on the largest size
    assert all(q < c.peak_mw for c, q in fit.rows) and fit.rows[0][1] == pytest.approx(fit.rows[0][0].peak_mw, rel=0.1)
    hotter = tuple(dataclasses.replace(c, peak_mw=1.5 * c.peak_mw) for c in load_nvdla())
    assert fit_datapath_scale(configs=hotter).scale > 1.5 * fit.scale  # the SRAM/leakage part is not scaled


def test_a_bad_nvdla_entry_is_one_line(tmp_path, monkeypatch):
    import analysis.data
    from analysis.validate.area import load_nvdla
    from simulator.errors import ConfigError

    row = ("sources: {a: p}\nconfigs:\n"
           "  - {macs: 64, cbuf_kb: 128, atomic_c: %s, peak_mw: 55, average_mw: 21, source: a}\n")
    monkeypatch.setattr(analysis.data, "resolve", lambda p: tmp_path / p.split("/")[-1])
    for c, key in (("7", r"configs\[0\]\.atomic_c"), ("-8", r"configs\[0\]\.atomic_c")):
        (tmp_path / "nvdla_power.yaml").write_text(row % c)
        with pytest.raises(ConfigError, match=rf"nvdla_power\.yaml: key '{key}'"):
            load_nvdla()
