"""Validation against oracles and published chips: the PE-array cycle model vs SCALE-Sim (``scalesim``), area and
power vs published accelerators (``area``)."""
