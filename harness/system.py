"""Facts about the machine and software, stored in every run manifest (pyperf-style)."""

from __future__ import annotations

import functools
import platform
import re
import subprocess
from importlib import metadata
from typing import Any

import psutil

from .paths import project_root

LIBRARIES = ("mlcommons-loadgen", "openvino", "nncf", "torch", "torchvision", "numpy",
             "pandas", "matplotlib", "opencv-python-headless", "pillow", "pycocotools")


@functools.lru_cache(maxsize=1)
def cpu_info() -> dict[str, Any]:
    """py-cpuinfo's view of the CPU (brand, flags, ...); cached, it takes about a second."""
    import cpuinfo

    return cpuinfo.get_cpu_info()


def facts() -> dict[str, Any]:
    """CPU model and features, cores, memory (GiB), OS, Python and library versions."""
    info = cpu_info()
    flags = set(info.get("flags", []))
    return {
        "cpu_model": info.get("brand_raw", platform.processor()),
        "cpu_arch": info.get("arch_string_raw", platform.machine()),
        "cpu_flags": sorted(f for f in flags if re.match(r"avx512|amx|avx2|vnni|bf16", f)),
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "hostname": platform.node(),
        "python": platform.python_version(),
        "libraries": library_versions(),
    }


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries that decide the results."""
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def supports_bf16() -> bool:
    """True when the CPU has native bf16 (AVX-512 BF16 or AMX-BF16)."""
    flags = set(cpu_info().get("flags", []))
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def default_system_name() -> str:
    """A folder-safe system name from the CPU model and logical core count.

    Example: ``AMD_EPYC-2c``.
    """
    brand = re.sub(r"\((R|TM)\)|CPU|Processor|@.*$", "", cpu_info().get("brand_raw", "cpu"))
    brand = re.sub(r"[^A-Za-z0-9]+", "_", brand).strip("_") or "cpu"
    return f"{brand}-{psutil.cpu_count(logical=True)}c"


def git_revision() -> dict[str, Any]:
    """The harness's git commit and whether the tree has uncommitted changes."""
    root = project_root()
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": rev or None, "dirty": bool(dirty.strip())}
