"""Facts about the machine and software, stored in every run manifest (pyperf-style)."""

from __future__ import annotations

import functools
import os
import platform
import re
import subprocess
from importlib import metadata
from typing import Any

import psutil

from .errors import HarnessError
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
    return {name: package_version(name) for name in LIBRARIES}


def package_version(name: str) -> str | None:
    """The installed version of a distribution, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


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


def process_exists(pid: int) -> bool:
    """True when a process with id ``pid`` exists on this host (``kill(pid, 0)``; a process
    of another user counts as existing)."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        pass
    return True


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


# --- CPU sets (taskset -c syntax) --------------------------------------------------------

def parse_cpu_list(text: str) -> set[int]:
    """CPU numbers of a ``taskset -c`` / cpuset list such as ``"0-3,6"``.

    Raises:
        HarnessError: not such a list (negative numbers, reversed ranges and empty parts
            included).
    """
    cpus: set[int] = set()
    try:
        for part in str(text).split(","):
            lo, _, hi = part.strip().partition("-")
            first, last = int(lo), int(hi or lo)
            if first < 0 or last < first:
                raise ValueError(part)
            cpus.update(range(first, last + 1))
    except ValueError:
        raise HarnessError(f"--cores: bad CPU list '{text}'; use taskset -c syntax, e.g. 0 or "
                           f"0-1,4") from None
    return cpus


def format_cpu_list(cpus) -> str:
    """The short ``taskset -c`` form of a set of CPU numbers: {0, 1, 2, 5} -> ``"0-2,5"``."""
    parts, run = [], []
    for c in sorted(cpus):
        if run and c != run[-1] + 1:
            parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
            run = []
        run.append(c)
    if run:
        parts.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(parts)


def affinity() -> set[int]:
    """The CPUs this process may run on (all CPUs where the OS cannot tell)."""
    if hasattr(os, "sched_getaffinity"):
        return set(os.sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def check_cpus(text: str) -> set[int]:
    """The CPUs of ``text``, all of which this process may use.

    Raises:
        HarnessError: a bad list, or CPUs this machine (or this process's CPU set) lacks,
            named with the ones available.
    """
    cpus = parse_cpu_list(text)
    allowed = affinity()
    if not cpus <= allowed:
        raise HarnessError(f"--cores {text}: CPU(s) {format_cpu_list(cpus - allowed)} are not "
                           f"available here; available: {format_cpu_list(allowed)}")
    return cpus
