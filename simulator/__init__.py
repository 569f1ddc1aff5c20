"""vrex-sim: a hardware-software co-design simulator for streaming video LLM accelerators."""

__version__ = "0.1.0"
