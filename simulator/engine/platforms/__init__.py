"""Platforms: a V-Rex-like accelerator (``accelerator``) and a GPU (``gpu``), each a set of units behind the
interface of ``simulator.engine.platform``."""

from simulator.engine.platforms.accelerator import AcceleratorPlatform
from simulator.engine.platforms.gpu import GpuPlatform

__all__ = ["AcceleratorPlatform", "GpuPlatform"]
