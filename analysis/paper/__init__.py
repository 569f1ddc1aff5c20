"""The V-Rex paper's evaluation reproduced figure by figure (``evaluation``: ``make paper``), its plots (``plots``)
and the difference between two runs (``diff``)."""
