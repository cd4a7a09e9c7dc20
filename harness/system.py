"""Facts about the machine and software, stored in every run manifest (pyperf-style)."""

from __future__ import annotations

import functools
import os
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path
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
    """CPU model and features, INT8 kernels (:func:`int8_isa`), cores, memory (GiB), OS,
    Python and library versions."""
    info = cpu_info()
    flags = set(info.get("flags", []))
    return {
        "cpu_model": info.get("brand_raw", platform.processor()),
        "cpu_arch": info.get("arch_string_raw", platform.machine()),
        "cpu_flags": sorted(f for f in flags if re.match(r"avx512|amx|avx2|vnni|bf16", f)),
        "int8_isa": int8_isa(),
        "onednn_max_cpu_isa": max_cpu_isa(),
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


def supports_bf16(flags: set[str] | None = None, cap: str | None = None) -> bool:
    """True when OpenVINO's CPU plugin can compute bf16 here: the CPU has AVX-512 BF16 or
    AMX-BF16 and ``ONEDNN_MAX_CPU_ISA`` does not cap the kernels below them (oneDNN's
    ``avx512_core_bf16`` and up: a cap of AVX2 or AVX512_CORE_VNNI takes bf16 away).

    Args:
        flags: CPU flags (None: this CPU's, from py-cpuinfo).
        cap: an ``ONEDNN_MAX_CPU_ISA`` value (None: this process's).

    Raises:
        HarnessError: an unknown ``ONEDNN_MAX_CPU_ISA`` value.
    """
    flags = set(cpu_info().get("flags", [])) if flags is None else set(flags)
    return bool(flags & {"avx512_bf16", "amx_bf16"}) and _cap(cap) in _BF16_CAPS


# --- the INT8 kernels OpenVINO's CPU plugin will run -------------------------------------
#
# OpenVINO's CPU plugin computes INT8 with oneDNN, which picks the best kernels the CPU has,
# capped by ONEDNN_MAX_CPU_ISA (oneDNN's "CPU dispatcher control": the ISA names below, each
# allowing the ISAs it contains). What differs for accuracy is how u8 x s8 products are summed:
# - AMX (amx_int8) and VNNI (avx512_vnni, avx_vnni: vpdpbusd) sum them in int32 exactly;
# - without VNNI (AVX2, AVX-512 without VNNI) vpmaddubsw sums pairs into int16 with
#   saturation, so large activations times large weights overflow. NNCF's overflow fix (7-bit
#   weights) exists for these CPUs (NNCF docs, AdvancedQuantizationParameters.overflow_fix).

#: The INT8 kernel classes, best first: what :func:`int8_isa` returns.
INT8_ISAS = ("AMX", "AVX512_VNNI", "AVX_VNNI", "AVX512", "AVX2", "SSE41")
#: INT8 kernel classes whose products do not saturate (dot products summed in int32).
VNNI_ISAS = frozenset({"AMX", "AVX512_VNNI", "AVX_VNNI"})
_AMX_CAPS = {"AVX10_1_512_AMX", "AVX512_CORE_AMX", "AVX10_1_512_AMX_FP16",
             "AVX512_CORE_AMX_FP16", "AVX10_2_512_AMX_2"}
_AVX512_VNNI_CAPS = _AMX_CAPS | {"AVX512_CORE_VNNI", "AVX512_CORE_BF16", "AVX10_1_512",
                                 "AVX512_CORE_FP16", "AVX10_2_512"}
_AVX_VNNI_CAPS = {"AVX2_VNNI", "AVX2_VNNI_2", "AVX10_1_512", "AVX512_CORE_FP16",
                  "AVX10_2_512"} | _AMX_CAPS
_AVX512_CAPS = _AVX512_VNNI_CAPS | {"AVX512_CORE"}
_AVX2_CAPS = _AVX512_CAPS | _AVX_VNNI_CAPS | {"AVX2"}
#: Caps that leave oneDNN its bf16 kernels (avx512_core_bf16 and the ISAs containing it).
_BF16_CAPS = _AMX_CAPS | {"AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX10_1_512",
                          "AVX10_2_512", "DEFAULT", "ALL"}
#: Every value oneDNN accepts in ONEDNN_MAX_CPU_ISA (oneDNN docs, "CPU Dispatcher Control").
ONEDNN_ISAS = frozenset(_AVX2_CAPS | {"SSE41", "AVX", "DEFAULT", "ALL"})


def max_cpu_isa() -> str | None:
    """The ``ONEDNN_MAX_CPU_ISA`` cap of this process (upper case), or None when unset.

    Raises:
        HarnessError: a value oneDNN does not know (oneDNN would ignore it silently, and the
            run would record kernels it did not use).
    """
    value = (os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
             or "").strip().upper()
    if not value:
        return None
    if value not in ONEDNN_ISAS:
        raise HarnessError(f"ONEDNN_MAX_CPU_ISA={value} is not a oneDNN ISA name; use one of "
                           f"{', '.join(sorted(ONEDNN_ISAS))} (or unset it)")
    return value


def _cap(cap: str | None) -> str:
    """``cap`` upper-cased, or this process's ``ONEDNN_MAX_CPU_ISA`` when None; "DEFAULT"
    when neither names one.

    Raises:
        HarnessError: not a oneDNN ISA name.
    """
    cap = (max_cpu_isa() if cap is None else cap.upper()) or "DEFAULT"
    if cap not in ONEDNN_ISAS:
        raise HarnessError(f"ONEDNN_MAX_CPU_ISA={cap} is not a oneDNN ISA name")
    return cap


def int8_isa(flags: set[str] | None = None, cap: str | None = None) -> str:
    """The INT8 kernel class OpenVINO's CPU plugin runs here: one of :data:`INT8_ISAS`.

    Args:
        flags: CPU flags (None: this CPU's, from py-cpuinfo).
        cap: an ``ONEDNN_MAX_CPU_ISA`` value (None: this process's, see :func:`max_cpu_isa`).
            The cap can only take kernels away: it cannot add AMX to a CPU without it.

    Raises:
        HarnessError: an unknown ``ONEDNN_MAX_CPU_ISA`` value.
    """
    flags = set(cpu_info().get("flags", [])) if flags is None else set(flags)
    cap = _cap(cap)
    def allowed(caps: set[str]) -> bool:
        return cap in caps or cap in ("DEFAULT", "ALL")
    if {"amx_int8", "amx_tile"} <= flags and allowed(_AMX_CAPS):
        return "AMX"
    if "avx512_vnni" in flags and allowed(_AVX512_VNNI_CAPS):
        return "AVX512_VNNI"
    if "avx_vnni" in flags and allowed(_AVX_VNNI_CAPS):
        return "AVX_VNNI"
    if {"avx512f", "avx512bw"} <= flags and allowed(_AVX512_CAPS):
        return "AVX512"
    if "avx2" in flags and allowed(_AVX2_CAPS):
        return "AVX2"
    return "SSE41"


def machine_line() -> str:
    """One line naming what a measurement ran on, for benchmarks to print beside their
    figures, e.g. ``CPU: Intel(R) Xeon(R) Processor, 2 logical cores; INT8 kernels: AMX
    (ONEDNN_MAX_CPU_ISA unset)``."""
    return (f"CPU: {cpu_info().get('brand_raw', platform.processor())}, "
            f"{psutil.cpu_count(logical=True)} logical cores; INT8 kernels: {int8_isa()} "
            f"(ONEDNN_MAX_CPU_ISA {max_cpu_isa() or 'unset'})")


def default_system_name() -> str:
    """A folder-safe system name from the CPU model and logical core count, and the
    ``ONEDNN_MAX_CPU_ISA`` cap when one is set: a capped run computes with other kernels (a
    different INT8 accuracy and speed), so it is another system, and its 99% gate compares
    it with an FP32 reference run under the same cap.

    Examples: ``AMD_EPYC-2c``, ``Intel_Xeon-2c-AVX2`` (under ``ONEDNN_MAX_CPU_ISA=AVX2``).

    Raises:
        HarnessError: an unknown ``ONEDNN_MAX_CPU_ISA`` value.
    """
    brand = re.sub(r"\((R|TM)\)|CPU|Processor|@.*$", "", cpu_info().get("brand_raw", "cpu"))
    brand = re.sub(r"[^A-Za-z0-9]+", "_", brand).strip("_") or "cpu"
    cap = max_cpu_isa()
    return f"{brand}-{psutil.cpu_count(logical=True)}c" + (f"-{cap}" if cap else "")


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


def process_running(pid: int) -> bool:
    """True while process ``pid`` runs: it exists (:func:`process_exists`) and is not a
    zombie (ended, not yet reaped by its parent; read from Linux's ``/proc/<pid>/stat``,
    where there is one)."""
    if not process_exists(pid):
        return False
    try:
        state = Path(f"/proc/{int(pid)}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc here, or it ended this moment: exists decided
    return state not in ("Z", "X")


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
