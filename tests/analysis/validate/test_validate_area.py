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
