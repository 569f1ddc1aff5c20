import math

import pytest

from analysis.calibrate import summary as cs


def test_records_are_gathered_in_make_calibrate_order_with_verdicts(tmp_path):
    cs.record("calibrate_links", [cs.component("link", 5, 0.0, 34, 0.115),
                                  cs.component("gpu kernels", 2, 0.0, 0, math.nan)], tmp_path)
    cs.record("calibrate_power", [cs.component("GPU power", 8, 0.08, 36, 0.10)], tmp_path)
    rows = cs.load(tmp_path)
    assert [r["component"] for r in rows] == ["GPU power", "link", "gpu kernels"]  # power runs first
    md = cs.markdown(rows).splitlines()
    assert md[2].endswith("| 10.0% | yes |")  # at the target passes
    assert md[3].endswith("| 11.5% | no |")
    assert md[4].endswith("| - | no held-out points |")  # never a pass without held-out points


def test_a_corrupt_record_is_a_one_line_error(tmp_path):
    (tmp_path / "calibrate_orin-medians.json").write_text("{not json")
    with pytest.raises(SystemExit, match="calibrate_orin-medians.json: not a medians record"):
        cs.load(tmp_path)


def test_nothing_recorded_exits_2(tmp_path, capsys):
    assert cs.main(["--dir", str(tmp_path)]) == 2
    assert "no medians recorded" in capsys.readouterr().err
