"""The configuration reference (docs/reference.md) is the generator's output (docs cannot drift from the schema)."""

from __future__ import annotations

from simulator.config.reference import main, reference_markdown


def test_readme_reference_is_up_to_date(root):
    assert main(["--check", str(root / "docs" / "reference.md")]) == 0


def test_reference_names_every_policy_and_new_key():
    text = reference_markdown()
    for needle in ("`resv`", "`hamming_threshold`", "`offload.link.gen`", "`dre.hcu_units`", "`pe_array.trees`",
                   "`cores`"):
        assert needle in text
