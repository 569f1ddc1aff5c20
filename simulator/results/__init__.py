"""Metrics and reports computed from simulation results."""
