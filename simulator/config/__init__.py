"""Validated, typed configs loaded from YAML: ``hardware`` (accelerators, GPUs), ``workload`` (workloads and
models), ``tech`` (the technology table), on the ``schema`` layer. Import the module you need; this package
imports none of them, so the policy registry (which the workload schema reads) can load the schema layer."""
