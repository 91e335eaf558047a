"""Which GPU torch sees, as a tilegen target (used by ``tilegen.compile`` and the callable's
device check; a module of its own so that neither imports the other)."""

from __future__ import annotations

from typing import Optional

from ir.targets import TARGETS


class NoGPUError(RuntimeError):
    """compile() was asked to pick the target of the local GPU, and torch sees none."""


def device_target(index: Optional[int] = None) -> str:
    """The tilegen target of GPU ``index`` (default: torch's current device)."""
    import torch

    if not torch.cuda.is_available():
        raise NoGPUError(
            "no GPU visible to torch; tilegen.emit and `tilegen check` still work, and "
            "tilegen.compile(kernel, target=...) builds without a GPU"
        )
    index = torch.cuda.current_device() if index is None else index
    props = torch.cuda.get_device_properties(index)
    if getattr(torch.version, "hip", None):
        arch = str(props.gcnArchName).split(":")[0]  # "gfx942:sramecc+:xnack-" -> "gfx942"
    else:
        arch = f"sm_{props.major}{props.minor}"
        if arch == "sm_90":
            arch = "sm_90a"  # the arch-specific features (setmaxnreg, wgmma) need the "a" target
    return arch


def detect_target() -> str:
    """The target of the GPU torch sees, checked against the targets tilegen knows."""
    arch = device_target()
    if arch not in TARGETS:
        raise ValueError(
            f"the GPU torch sees is {arch}, which tilegen has no target for; known targets: {', '.join(TARGETS)}"
        )
    return arch
