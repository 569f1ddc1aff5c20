"""Developer tools: benchmarks (``bench``: ``make bench``), SimPy vs compiled replay speed (``replay_speed``) and the
README's generated blocks (``docs``: ``make docs``)."""
