"""The paper's figures and tables as ``make paper`` reproduces them: each one's id and title, written once.

``id`` is the ``figure`` column of ``results.csv`` and the file name of its plot (``figures/<id>.png``);
``label`` and ``caption`` make its title (``title``), used as the heading in ``paper.md`` and on its plot.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    id: str
    label: str  # as the paper numbers it ("Fig. 13a", "Table III"), or our name for a figure of our own
    caption: str

    @property
    def title(self) -> str:
        return f"{self.label}: {self.caption}"


FIGURES: dict[str, Figure] = {f.id: f for f in (
    Figure("fig13a", "Fig. 13a", "edge, V-Rex8 vs Orin 32 GB"),
    Figure("fig13b", "Fig. 13b", "server, V-Rex48 vs A100"),
    Figure("fig14", "Fig. 14", "average COIN case by stage, normalised to Orin 32 GB + FlexGen"),
    Figure("fig15", "Fig. 15", "throughput until out of memory (x)"),
    Figure("fig16", "Fig. 16", "ablation at the largest cache, batch 1, frame processing"),
    Figure("fig17", "Fig. 17", "V-Rex48 bandwidth over time"),
    Figure("fig18", "Fig. 18", "roofline, largest cache, batch 4"),
    Figure("fig20", "Fig. 20", "ReSV retrieval share (meta profile)"),
    Figure("table3", "Table III", "V-Rex8 blocks (area_model.py structures, technology table)"),
    Figure("fig_stacks", "Software stacks (edge)", "V-Rex8 vs the Orin on each GPU software stack (batch 1)"),
    Figure("ladder", "Where the speedup comes from", "V-Rex over the GPU step by step (analysis/paper/ladder.py)"),
    Figure("capacity_map", "Capacity maps", "V-Rex over FlexGen at its best placement by KV size and batch"),
)}


def title(figure_id: str) -> str:
    """The title of figure ``figure_id`` (a key of :data:`FIGURES`)."""
    return FIGURES[figure_id].title
