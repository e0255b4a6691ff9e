"""Where a model runs: CUDA when torch sees a GPU, else the CPU, asked without loading torch
where there is no NVIDIA driver (the CPU image has no torch at all)."""

from __future__ import annotations

import functools
import sys


class Device(str):
    """A device by name ("cpu", "cuda", "cuda:1"), held without importing torch; equal to
    the ``torch.device`` of the same name, and accepted by torch wherever one is."""

    __slots__ = ()

    @property
    def type(self) -> str:
        return self.partition(":")[0]

    def __eq__(self, other) -> bool:
        return str(self) == str(other)

    def __ne__(self, other) -> bool:
        return not self == other

    __hash__ = str.__hash__


def select_device() -> Device:
    """CUDA when torch sees a GPU, else the CPU.

    Without an NVIDIA driver there is no GPU to see, and torch is not loaded to learn it
    (unless something loaded it already: then asking costs nothing).
    """
    if "torch" not in sys.modules and not _nvidia_driver():
        return Device("cpu")
    import torch

    return Device("cuda" if torch.cuda.is_available() else "cpu")


def prepare(device: Device) -> None:
    """On CUDA, attention without cuDNN's kernels. cuDNN plans each new input shape the
    first time it sees it, and batches are padded to their longest sentence or window, so
    nearly every batch of a fresh process is a new shape. On an H200 (torch 2.11, the window
    model, the 104 new writers' reports) a cold service read 7.9 documents/s with cuDNN's
    attention and 85 without it (flash and memory-efficient kernels plan nothing); 109 and
    99 once every shape had been seen (docs/deploying.md). Process-wide, as torch's switch is."""
    if device.type == "cuda":
        import torch

        torch.backends.cuda.enable_cudnn_sdp(False)


@functools.lru_cache(maxsize=1)
def _nvidia_driver() -> bool:
    """Whether the CUDA driver library is installed (as on a GPU host or image); asked once
    (ctypes runs ldconfig to find out)."""
    from ctypes.util import find_library

    return find_library("cuda") is not None
