"""Studies over many simulations: design-space sweeps (``sweep``), multi-objective exploration (``explore``) and its
report (``codesign``), global sensitivity (``sensitivity``), and KV-policy comparisons (``policies``)."""
