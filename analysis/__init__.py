"""Analysis on top of simulation results, one sub-package per kind of work: ``calibrate`` (sub-models on
published measurements), ``validate`` (against oracles and published chips), ``studies`` (sweeps, exploration,
sensitivity, policy comparisons), ``paper`` (the V-Rex evaluation), ``report`` (figures and reports) and
``devtools`` (benchmarks and generated docs). Measurement data sit in ``data/``, study specs in ``specs/``."""
