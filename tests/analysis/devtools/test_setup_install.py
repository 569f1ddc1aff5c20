"""The Makefile installs torch's CPU build explicitly (PyTorch's CPU wheel index, the version pinned with its +cpu
tag), with a fallback to the configured indexes; the command is checked as built by make, and dry-run where the
CPU wheel is at hand locally (no network needed)."""

from __future__ import annotations

import glob
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _make_var(name: str) -> str:
    out = subprocess.run(["make", "-s", "-C", str(ROOT), "--no-print-directory", "-f", "Makefile", "-f", "-",
                          "print"], input=f"print:\n\t@echo $({name})\n", capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_setup_installs_the_pinned_cpu_wheel_from_the_cpu_index():
    cmd = shlex.split(_make_var("TORCH_INSTALL"))
    assert cmd[0] == "install"
    assert cmd[cmd.index("--extra-index-url") + 1] == "https://download.pytorch.org/whl/cpu"
    version = _make_var("TORCH_VERSION")
    assert f"torch=={version}+cpu" in cmd  # the CPU build, not whatever the index resolves torch to
    assert "torch=={}+cpu".format(version) in shlex.split(_make_var("TORCH_FALLBACK"))
    recipe = subprocess.run(["make", "-n", "-B", "-C", str(ROOT), ".venv/.installed"], capture_output=True,
                            text=True).stdout
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in recipe and "||" in recipe
    import torch

    assert torch.__version__ == f"{version}+cpu"  # what this venv got from it


@pytest.mark.skipif(not glob.glob("/opt/wheels/torch-*+cpu-*.whl"), reason="no local CPU wheel to dry-run against")
def test_install_command_dry_runs_to_the_cpu_wheel(tmp_path):
    args = [a for a in shlex.split(_make_var("TORCH_INSTALL")) if a != "--quiet"]
    cmd = [sys.executable, "-m", "pip", *args, "--dry-run", "--ignore-installed",
           "--no-deps", "--timeout", "5", "--retries", "0"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"Would install torch-{_make_var('TORCH_VERSION')}+cpu" in out.stdout
