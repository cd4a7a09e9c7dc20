"""``systems/<system>.json``: the system description of a submission.

Every key the MLCommons checker requires (``rules.SYSTEM_REQUIRED_FIELDS``) is written.
What the machine can tell is filled from it (py-cpuinfo, psutil, platform, the installed
library versions, /sys for sockets); what it cannot (status, system type, cooling, storage
type, networking, ...) comes from a user JSON file (``--system-file``), whose keys win over
everything. Keys neither gives get a placeholder and are listed as ``defaulted`` so the user
sees what to fill in.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import psutil

from .. import system as sysfacts
from ..errors import HarnessError
from .rules import SYSTEM_REQUIRED_FIELDS, SYSTEM_REQUIRED_FIELDS_NETWORK

#: Placeholders for keys only the submitter knows; each one is reported as defaulted.
USER_DEFAULTS = {
    "status": "available",
    "system_type": "edge",      # round v6.1: ResNet-50 is an edge benchmark (rules.py)
    "system_type_detail": "N/A",
    "host_storage_type": "not reported",
    "host_memory_configuration": "not reported",
    "host_processor_interconnect": "N/A",
    "host_networking": "not reported",
    "host_networking_topology": "N/A",
    "host_network_card_count": "not reported",
    "cooling": "not reported",
    "hw_notes": "",
    "sw_notes": "",
}


def _sockets() -> int:
    """Processor packages (sockets) from /sys, 1 when unknown."""
    ids = set()
    for p in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/topology/physical_package_id"):
        try:
            ids.add(p.read_text().strip())
        except OSError:
            pass
    return max(1, len(ids))


def machine_facts() -> dict[str, Any]:
    """The keys a machine can report about itself."""
    info = sysfacts.cpu_info()
    libs = sysfacts.library_versions()
    sockets = _sockets()
    cores = psutil.cpu_count(logical=False) or psutil.cpu_count() or 1
    caches = ", ".join(f"{k.upper().replace('_CACHE_SIZE', '')}: {info[k]}"
                       for k in ("l1_data_cache_size", "l2_cache_size", "l3_cache_size")
                       if info.get(k))
    mem = psutil.virtual_memory().total / 2**30
    disk = psutil.disk_usage("/").total / 2**30
    others = ", ".join(f"{k} {v}" for k, v in libs.items()
                       if v and k not in ("openvino",))
    return {
        "number_of_nodes": "1",
        "host_processor_model_name": info.get("brand_raw") or platform.processor(),
        "host_processors_per_node": str(sockets),
        "host_processor_core_count": str(max(1, cores // sockets)),
        "host_processor_frequency": info.get("hz_advertised_friendly") or "N/A",
        "host_processor_caches": caches or "N/A",
        "host_memory_capacity": f"{mem:.0f} GB",
        "host_storage_capacity": f"{disk:.0f} GB",
        "accelerators_per_node": "0",
        "accelerator_model_name": "N/A",
        "accelerator_frequency": "N/A",
        "accelerator_host_interconnect": "N/A",
        "accelerator_interconnect": "N/A",
        "accelerator_interconnect_topology": "N/A",
        "accelerator_memory_capacity": "N/A",
        "accelerator_memory_configuration": "N/A",
        "accelerator_on-chip_memories": "N/A",
        "framework": f"OpenVINO {libs.get('openvino')}",
        "operating_system": f"{platform.system()} {platform.release()} "
                            f"({platform.platform()})",
        "other_software_stack": f"Python {platform.python_version()}, {others}",
    }


def load_user_file(path: Path | None) -> dict[str, Any]:
    """The user's system JSON (a flat object), or {}.

    Raises:
        HarnessError: unreadable or not a JSON object.
    """
    if path is None:
        return {}
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise HarnessError(f"cannot read the system file {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise HarnessError(f"system file {path} must hold one JSON object of "
                           f"'key': 'value' pairs (see docs/submission.md)")
    return data


def network_facts(report) -> dict[str, Any]:
    """The network keys a network-division run can tell (the LoadGen node's software, the
    protocol, the connections, the server's software); the rest (NICs, media, rate,
    topology) only the submitter knows.

    Args:
        report: a performance run of the kserve backend with ``--network-division``.
    """
    libs = sysfacts.library_versions()
    props = report.backend.get("properties") or {}
    server = props.get("server") or {}
    return {"is_network": "true",
            "network_protocol": f"KServe v2 / Open Inference Protocol over "
                                f"{props.get('protocol', 'grpc')}",
            "number_connections": str(props.get("concurrency") or 1),
            "net_software_stack_loadgen": f"mlcommons-loadgen "
                                          f"{libs.get('mlcommons-loadgen')}, tritonclient "
                                          f"{sysfacts.package_version('tritonclient')}",
            "net_software_stack_sut": f"{server.get('name', 'unknown')} "
                                      f"{server.get('version', '')}".strip()}


def describe(division: str, submitter: str, system_name: str,
             user: dict[str, Any], network: dict[str, Any] | None = None
             ) -> tuple[dict[str, Any], list[str]]:
    """The system JSON and the keys that got a placeholder.

    Order of precedence: the user file, then division/submitter/system_name from the
    command line, then the machine (and, for the network division, ``network``: what the
    runs tell), then :data:`USER_DEFAULTS`.
    """
    desc: dict[str, Any] = {}
    defaulted = []
    machine = {**machine_facts(), **(network or {})}
    keys = list(SYSTEM_REQUIRED_FIELDS) + (
        list(SYSTEM_REQUIRED_FIELDS_NETWORK) if division == "network" else [])
    for key in keys:
        if key in user:
            desc[key] = user[key]
        elif key == "division":
            desc[key] = division
        elif key == "submitter":
            desc[key] = submitter
        elif key == "system_name":
            desc[key] = system_name
        elif key in machine:
            desc[key] = machine[key]
        else:
            network_default = "1" if key.startswith("number_") else "not reported"
            desc[key] = USER_DEFAULTS.get(
                key, network_default if key in SYSTEM_REQUIRED_FIELDS_NETWORK else "")
            defaulted.append(key)
    for key, value in user.items():  # extra keys the user wants recorded
        desc.setdefault(key, value)
    return desc, defaulted
