"""The same stack on every install: ``requirements.lock`` (``make lock``) pins every package,
it satisfies setup.cfg's ranges, and ``make setup`` installed exactly it (``uv pip sync``)."""

from __future__ import annotations

import configparser
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"


def locked() -> dict[str, Version]:
    """``{canonical name: pinned version}`` of the lock's lines whose marker holds here."""
    env = default_environment()
    pins: dict[str, Version] = {}
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        req = Requirement(line)
        (spec,) = req.specifier
        assert spec.operator == "==", f"{line}: not a pin"
        if req.marker is None or req.marker.evaluate(env):
            pins[canonicalize_name(req.name)] = Version(spec.version)
    return pins


def declared() -> list[Requirement]:
    """setup.cfg's install_requires and every extra."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    lines = cfg["options"]["install_requires"].splitlines()
    for extra in cfg["options.extras_require"].values():
        lines += extra.splitlines()
    return [Requirement(x.split("#", 1)[0]) for x in lines if x.split("#", 1)[0].strip()]


def test_the_lock_pins_every_declared_package_within_its_range():
    """A change to setup.cfg's ranges needs `make lock`: a pin outside a range fails here."""
    pins = locked()
    for req in declared():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is declared in setup.cfg but not locked: make lock"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{req.name}: locked {pins[name]} is outside setup.cfg's {req.specifier}: make lock")


def test_setup_installed_exactly_the_locked_versions():
    """`make setup` syncs the venv to the lock: every pinned package is installed at its pin
    (this suite runs in that venv)."""
    import sysconfig

    venv = {canonicalize_name(d.metadata["Name"]): Version(d.version) for d in
            metadata.distributions(path=[sysconfig.get_paths()["purelib"]])}
    wrong = []
    for name, version in locked().items():
        installed = venv.get(name)
        if installed is None:
            wrong.append(f"{name}: locked {version}, not installed")
            continue
        if installed != version:
            wrong.append(f"{name}: locked {version}, installed {installed}")
    assert not wrong, "; ".join(wrong) + " (run make setup)"
