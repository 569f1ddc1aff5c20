"""Calibration of sub-models on published measurements (``make calibrate``): GPU efficiencies per software stack
(``gpu_stacks``), GPU power (``power``), the PCIe link, NVMe SSD and irregular GPU kernels (``links``), and the
held-out summary (``summary``)."""
