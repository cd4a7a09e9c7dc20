"""What every backend's config is (:class:`BackendConfig`), so that the rest of the harness
asks a run's backend section instead of probing it or comparing its name.

Each backend's options are a dataclass extending :class:`BackendConfig` in
``harness/backends/<name>/config.py`` (optimum-benchmark's ``backends/config.py`` pattern):
its fields are the run config's ``backend`` section and the ``harness run`` options, with a
``name`` (the ``--backend`` value) and a ``precision`` field each. The base declares no
fields of its own, so each backend's field order (``run.json``, ``--help``, the options that
rebuild a run) is its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import HarnessError

#: The backend of a run config that names none; its runs' results folders and labels name
#: the precision alone (``fp32``), any other backend's ``<backend>-<precision>``.
DEFAULT = "openvino"


@dataclass
class BackendConfig:
    """The base of every backend's config (a dataclass with ``name`` and ``precision``).

    Attributes:
        remote: the model lives on a server: no local weights or IR are needed (KServe).
        runs_model_file: the backend runs the model file as given, whose weight types name
            the run's precision (:func:`harness.model_precision.as_given`); False: the
            card's network in FP32.
        batch, network_division: options a backend may lack, at their "not set" value
            here; a backend that has one declares it as a field of its own.
    """

    remote: ClassVar[bool] = False
    runs_model_file: ClassVar[bool] = False

    # not fields (no annotation): a backend's own field of the same name takes their place
    batch = None
    network_division = False
    streams = threads = hint = nireq = batch_timeout_us = None

    def summary(self) -> dict[str, Any]:
        """The deployment settings the user chose, for reports: ``{"streams", "threads",
        "hint", "nireq", "batch", "batch_timeout_us"}``, each None where not set or where
        the backend has no such option (then its own default applies)."""
        return {"streams": self.streams, "threads": self.threads, "hint": self.hint,
                "nireq": self.nireq, "batch": self.batch,
                "batch_timeout_us": self.batch_timeout_us}

    @classmethod
    def results_label(cls, precision: str) -> str:
        """The precision folder of this backend's runs from their precision label
        (:mod:`harness.model_precision`): the label alone for the :data:`DEFAULT` backend
        (``uint8``, ``fp32``, ``int8``), ``<backend>-<label>`` else (``pytorch-fp32``)."""
        name = cls.name  # the field's default: the backend's name
        return precision if name == DEFAULT else f"{name}-{precision}"

    @classmethod
    def search_space(cls, scenario: str, cores: int) -> dict[str, list]:
        """The values of each dimension this backend offers ``harness optimize`` (dimension
        -> values), for ``scenario`` on ``cores`` CPUs.

        Raises:
            HarnessError: the backend offers no search (the default).
        """
        raise HarnessError(f"harness optimize does not search the {cls.name} backend")

    def at_point(self, point: dict[str, Any]) -> "BackendConfig":
        """This config at one ``point`` of :meth:`search_space` (dimension -> value).

        Raises:
            HarnessError: the backend offers no search (the default).
        """
        raise HarnessError(f"harness optimize does not search the {self.name} backend")
