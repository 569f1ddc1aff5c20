"""Hardware models that replay a trace: a SimPy model of the accelerator and a GPU baseline."""
