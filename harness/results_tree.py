"""The layout of a results root: every path below it is built and parsed here.

::

    <root>/<system>/<model>/<precision>/<scenario>/<mode>/<stamp>/     a run
    <root>/<system>/<model>/<precision>/<scenario>/compliance/<test>/<stamp>/
                                                    a compliance test of a run of the scenario
    <root>/<system>/<model>/<precision>/Server/peak.json               recorded Server peaks
    <root>/<system>/<model>/<precision>/Server/peak_search/<stamp>/   find-peak searches
    <root>/<system>/optimize/<stamp>/                                 optimize searches

``<precision>`` is the run's precision folder (:meth:`BackendConfig.results_label`), ``<mode>``
``performance`` or ``accuracy``, ``<stamp>`` a UTC time (:data:`STAMP_FORMAT`) made unique at
creation where two may start in one second (runs: ``mkdir`` without ``exist_ok``, ``-<n>``
added): a run never overwrites an earlier one.

A run directory is parsed where it is, so a copied or moved results folder is read as it is
now (:func:`scenario_dir_of`, :func:`mode_dir_beside`).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from .errors import HarnessError

#: The UTC time stamp of a run, search or compliance folder.
STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
#: The Server peaks of a system, model and precision (:mod:`harness.scenarios.server`).
PEAK_FILE = "peak.json"
#: find-peak's searches, in the Server folder.
SEARCH_FOLDER = "peak_search"
#: Compliance tests, in a scenario folder.
COMPLIANCE_FOLDER = "compliance"
#: optimize's searches, in a system folder.
OPTIMIZE_FOLDER = "optimize"


def stamp() -> str:
    """The UTC time now as a folder name (:data:`STAMP_FORMAT`)."""
    return datetime.now(timezone.utc).strftime(STAMP_FORMAT)


def scenario_dir_of(run_dir: Path | str) -> Path:
    """The scenario folder a run directory is in (``.../<scenario>/<mode>/<stamp>``)."""
    return Path(run_dir).parent.parent


def mode_dir_beside(run_dir: Path | str, mode: str) -> Path:
    """The folder of ``mode``'s runs of the scenario a run directory is in (e.g. the
    accuracy runs beside a performance run)."""
    return scenario_dir_of(run_dir) / mode


def compliance_dir(scenario_dir: Path | str, test: str) -> Path:
    """The folder of ``test``'s compliance records of a scenario folder."""
    return Path(scenario_dir) / COMPLIANCE_FOLDER / test


def new_compliance_dir(run_dir: Path | str, test: str) -> Path:
    """Create and return a fresh folder for a compliance test of a performance run.

    Raises:
        FileExistsError: one of the same second exists.
    """
    out = compliance_dir(scenario_dir_of(run_dir), test) / stamp()
    out.mkdir(parents=True, exist_ok=False)
    return out


def claim(parent: Path, name: str) -> Path:
    """Create and return ``parent/name``, or ``name-1``, ``-2``... when it exists (a run
    never takes an earlier one's folder).

    Raises:
        FileExistsError: all of 1000 names are taken.
        OSError: ``parent`` cannot be written.
    """
    for n in range(1000):
        path = parent / (name if n == 0 else f"{name}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"1000 run directories named {name} under {parent}")


def searches_dir_beside(peak_file: Path | str) -> Path:
    """The folder of find-peak's searches beside a ``peak.json``."""
    return Path(peak_file).parent / SEARCH_FOLDER


class ResultsTree:
    """The paths below one results root (``--results-dir``)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def model_dir(self, system: str, model: str) -> Path:
        """``<root>/<system>/<model>``: every run of a model on a system."""
        return self.root / system / model

    def scenario_dir(self, system: str, model: str, precision: str, scenario: str) -> Path:
        """``<root>/<system>/<model>/<precision>/<scenario>``."""
        return self.model_dir(system, model) / precision / scenario

    def new_run_dir(self, system: str, model: str, precision: str, scenario: str,
                    mode: str) -> Path:
        """Create and return a fresh, unique run directory.

        Raises:
            HarnessError: it cannot be created.
        """
        parent = self.scenario_dir(system, model, precision, scenario) / mode
        try:
            parent.mkdir(parents=True, exist_ok=True)
            return claim(parent, stamp())
        except OSError as exc:
            raise HarnessError(f"cannot create a run directory under {parent}: "
                               f"{exc.strerror or exc}") from None

    def claim_run_dir(self, rel: PurePosixPath) -> Path:
        """Create the run directory ``rel`` (relative to the root, e.g. a run of another
        machine brought here), or ``rel-1``, ``-2``... when another run has it.

        Raises:
            HarnessError: it cannot be created.
        """
        parent = self.root.joinpath(*rel.parts[:-1])
        try:
            parent.mkdir(parents=True, exist_ok=True)
            return claim(parent, rel.name)
        except OSError as exc:
            raise HarnessError(f"cannot create a run directory under {parent}: "
                               f"{exc.strerror or exc}") from None

    def server_dir(self, system: str, model: str, precision: str) -> Path:
        """``<root>/<system>/<model>/<precision>/Server``: its peaks and searches."""
        return self.scenario_dir(system, model, precision, "Server")

    def peak_file(self, system: str, model: str, precision: str) -> Path:
        """The Server peaks of a system, model and precision (``.../Server/peak.json``)."""
        return self.server_dir(system, model, precision) / PEAK_FILE

    def searches_dir(self, system: str, model: str, precision: str) -> Path:
        """The folder of find-peak's searches (``.../Server/peak_search``)."""
        return self.server_dir(system, model, precision) / SEARCH_FOLDER

    def new_search_dir(self, system: str, model: str, precision: str) -> Path:
        """Create and return a fresh folder for one find-peak search.

        Raises:
            FileExistsError: one of the same second exists.
        """
        out = self.searches_dir(system, model, precision) / stamp()
        out.mkdir(parents=True, exist_ok=False)
        return out

    def new_optimize_dir(self, system: str) -> Path:
        """Create and return a fresh folder for one optimize search
        (``<root>/<system>/optimize/<stamp>``).

        Raises:
            FileExistsError: one of the same second exists.
        """
        out = self.root / system / OPTIMIZE_FOLDER / stamp()
        out.mkdir(parents=True, exist_ok=False)
        return out
