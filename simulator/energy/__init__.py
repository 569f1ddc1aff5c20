"""Energy, power and area accounting (per-event energies live in the technology table)."""
