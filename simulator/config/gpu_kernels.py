"""The GPU's irregular kernels (hwconfigs/tech/gpu_kernels.yaml): DRAM passes per input byte (fitted by
``make calibrate``) and kernel launches per call (assumptions), each with its source."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from simulator.config.schema import build, load_yaml, spec

DEFAULT_GPU_KERNELS = Path(__file__).resolve().parents[2] / "hwconfigs" / "tech" / "gpu_kernels.yaml"
RATES = ("topk", "sort")  # measured kernel rates
KERNEL_KINDS = ("topk", "sort", "wicsum", "cluster")  # kernels with a launch count


@dataclass(frozen=True, kw_only=True)
class Passes:
    value: float = spec("DRAM passes per input byte at the device's peak bandwidth", gt=0, le=1e4)
    source: str = spec("where the value comes from (measurement and the fit)")


@dataclass(frozen=True, kw_only=True)
class Launches:
    value: int = spec("kernel launches per call", ge=1, le=1000)
    source: str = spec("why this many (an assumption)")


@dataclass(frozen=True, kw_only=True)
class GpuKernels:
    passes: dict[str, Passes] = spec("per measured rate", choices=RATES)
    launches: dict[str, Launches] = spec("per irregular kernel kind", choices=KERNEL_KINDS)

    def validate(self, source: str, prefix: str) -> None:
        from simulator.errors import ConfigError

        for key, names in (("passes", RATES), ("launches", KERNEL_KINDS)):
            missing = [n for n in names if n not in getattr(self, key)]
            if missing:
                raise ConfigError(source, f"{prefix}.{key}" if prefix else key,
                                  f"lacks {', '.join(missing)}; needs {', '.join(names)}")


def load_gpu_kernels(path: str | Path = DEFAULT_GPU_KERNELS) -> GpuKernels:
    return build(GpuKernels, load_yaml(path), source=str(path))


def gpu_kernels() -> GpuKernels:
    """The default table, read once per version of the file (its size and modification time)."""
    st = DEFAULT_GPU_KERNELS.stat()
    return _at(str(DEFAULT_GPU_KERNELS), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=2)
def _at(path: str, _size: int, _mtime_ns: int) -> GpuKernels:
    return load_gpu_kernels(path)
