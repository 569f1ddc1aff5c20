"""Figures and reports from saved runs and sweeps (``plots``), saving a run for them (``artefacts``), and Markdown
blocks written between markers (``markdown``)."""
