"""Running test code on two host devices, which stand in for two accelerators (XLA's forced
host device count; it must be set before JAX starts, hence a fresh interpreter)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_on_two_devices(code: str) -> str:
    """Run `code` in a fresh Python with two CPU devices; its stdout (it must exit 0)."""
    environment = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout
