"""Generated Markdown blocks: replace the text between two markers in a file (README, PAPER.md).

Used by ``make docs`` and by the calibration and validation scripts that write their tables into the README.
"""

from __future__ import annotations

from pathlib import Path


def replace_between(text: str, begin: str, end: str, body: str, where: str = "README") -> str:
    """``text`` with everything between the markers ``begin`` and ``end`` replaced by ``body``."""
    if begin not in text or end not in text:
        raise SystemExit(f"{where}: markers {begin} / {end} not found")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}\n{end}{tail}"


def write_between(path, begin: str, end: str, body: str) -> bool:
    """Replace the marked block of the file at ``path`` with ``body``; True if the file changed."""
    p = Path(path)
    text = p.read_text()
    new = replace_between(text, begin, end, body, str(p))
    if new != text:
        p.write_text(new)
        return True
    return False


def md_table(df) -> str:
    """A DataFrame as a Markdown table (floats to 4 significant figures)."""
    if df.empty:
        return "(no rows)"
    cols = list(df.columns)
    lines = ["| " + " | ".join(str(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |")
    return "\n".join(lines)
