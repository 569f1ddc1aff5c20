"""The README's and PAPER.md's generated blocks are what the generator makes now (docs cannot drift), and
`make help` lists every target the Makefile defines."""

from __future__ import annotations

import re

from analysis.devtools.docs import main, make_targets, replace_blocks


def test_generated_blocks_are_current(root):
    assert main(["--check", str(root / "README.md"), str(root / "analysis" / "PAPER.md"),
                 str(root / "docs" / "architecture.md")]) == 0, \
        "run 'make docs'"


def test_every_make_target_is_documented(root):
    makefile = (root / "Makefile").read_text()
    defined = {m for m in re.findall(r"^([a-z][\w-]*):", makefile, flags=re.M)}
    documented = {t for t, _ in make_targets(root / "Makefile")}
    assert defined == documented, (defined - documented, documented - defined)


def test_a_stale_block_is_caught(root):
    text = (root / "README.md").read_text()
    stale = text.replace("<!-- targets:begin -->\n", "<!-- targets:begin -->\n| `make gone` | removed |\n", 1)
    assert replace_blocks(stale) == text != stale
