"""Validated, typed configs loaded from YAML (hardware, workload, model, technology)."""

from simulator.config.hardware import AcceleratorConfig, GpuConfig, load_hardware
from simulator.config.workload import ModelConfig, WorkloadConfig, load_model, load_workload

__all__ = ["AcceleratorConfig", "GpuConfig", "ModelConfig", "WorkloadConfig", "load_hardware",
           "load_model", "load_workload"]
