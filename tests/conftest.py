"""Shared test fixtures and the markers that skip, with a reason, what this machine cannot run."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
if str(EXAMPLES) not in sys.path:
    sys.path.insert(0, str(EXAMPLES))


def _has_gpu() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def _has_amd_hipcc() -> bool:
    return shutil.which("hipcc") is not None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skips = {
        "gpu": (_has_gpu(), "no GPU visible to torch: run on the device machine (scripts/device_check.sh)"),
        "amd_toolchain": (_has_amd_hipcc(), "hipcc not found: `apt-get install hipcc` (.ci/run does this)"),
        "nvcc": (shutil.which("nvcc") is not None or os.path.exists("/usr/local/cuda/bin/nvcc"), "nvcc not found"),
    }
    for item in items:
        for marker, (available, reason) in skips.items():
            if marker in item.keywords and not available:
                item.add_marker(pytest.mark.skip(reason=reason))
