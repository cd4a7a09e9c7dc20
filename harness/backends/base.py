"""The small interface every inference backend implements for the SUT."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

#: How often (s) a caller waiting for free infer requests asks :meth:`Backend.poll` for
#: failed inferences (the SUT's dispatcher while it has nothing to start, the Server
#: deployment rule's measurement while every request is busy).
POLL_SECONDS = 0.05

#: ``callback(outputs, userdata, error)``: outputs is a list of numpy arrays valid only
#: during the call (None when ``error`` is set); it runs on a backend thread.
Callback = Callable[[list[np.ndarray] | None, Any, BaseException | None], None]


@dataclass(frozen=True)
class LoadContext:
    """What a backend may need from the run beyond its own config.

    Attributes:
        default_hint: the scenario's default performance hint (THROUGHPUT, LATENCY).
        dataset: the run's dataset folder (None: synthetic), e.g. the default INT8
            calibration data.
        eval_count: samples the run evaluates (the first N of the dataset).
    """

    default_hint: str = "THROUGHPUT"
    dataset: str | None = None
    eval_count: int | None = None


class Backend(ABC):
    """Loads one model and runs inference synchronously or asynchronously."""

    name: str = "base"

    @abstractmethod
    def load(self, card, weights, config, context: LoadContext) -> None:
        """Prepare (convert, compile) the card's model with ``weights``.

        Args:
            card: the model card.
            weights: resolved :class:`harness.weights.Weights`.
            config: the backend's own config (e.g. :class:`OpenVINOConfig`).
            context: what the run adds (:class:`LoadContext`).

        Raises:
            HarnessError: the model or precision cannot be loaded.
        """

    @abstractmethod
    def infer(self, sample: np.ndarray) -> list[np.ndarray]:
        """Synchronous inference of one batch; returns the outputs (copies)."""

    def infer_view(self, sample: np.ndarray) -> list[np.ndarray]:
        """Synchronous inference of one batch on the backend's lean path (SingleStream):
        the outputs may be views of the backend's own buffers, valid until the next call.
        Default: :meth:`infer`."""
        return self.infer(sample)

    @abstractmethod
    def set_callback(self, callback: Callback) -> None:
        """Set the completion callback for :meth:`start_async`."""

    @abstractmethod
    def start_async(self, sample: np.ndarray, userdata: Any) -> int | None:
        """Start inference of one batch; blocks only while all requests are busy.

        Returns the ``time.perf_counter_ns()`` at which the inference started (after any
        wait for a free request), or None when the backend does not know it (the caller's
        time before the call stands for it: :mod:`harness.telemetry`).

        The backend may read ``sample`` in place until the request completes (OpenVINO's
        ``share_inputs``): the caller keeps the array alive until the callback, e.g. by
        holding it in ``userdata``.
        """

    @abstractmethod
    def wait_all(self) -> None:
        """Block until every started inference has called back."""

    def poll(self) -> None:
        """Call back now for started inferences that failed, where the backend learns of a
        failure only when asked (the SUT's dispatcher calls this while it has nothing to
        start). Default: nothing to do."""

    def set_width(self, streams: int, threads: int) -> bool:
        """Run ``streams`` inferences at once sharing ``threads`` threads in all (recompile,
        with the default infer requests for that many streams); False, changing nothing,
        where the backend has no such setting (the default)."""
        return False

    @abstractmethod
    def parallelism(self) -> int:
        """Number of inferences the backend runs at once (infer requests)."""

    def batch_size(self) -> int:
        """Samples per request (:meth:`start_async` takes arrays of this batch size)."""
        return 1

    @abstractmethod
    def properties(self) -> dict[str, Any]:
        """Effective runtime properties, for the run report."""

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """The effective settings the run used (the config with defaults resolved): part of
        a result's identity (e.g. the key of a recorded Server peak)."""

    def model_info(self) -> dict[str, Any]:
        """Facts about the loaded model (file, size on disk in MB, ...)."""
        return {}

    def sut_name(self) -> str:
        """The SUT's name LoadGen's Query Dispatch Library reports (network division)."""
        return f"{self.name} SUT"

    def build_facts(self) -> dict[str, Any] | None:
        """How the model was built, when the backend built it (e.g. INT8 calibration)."""
        return None
