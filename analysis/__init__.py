"""Analysis on top of simulation results: benchmarks, sweeps and plots."""
