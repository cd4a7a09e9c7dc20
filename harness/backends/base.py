"""The small interface every inference backend implements for the SUT."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

#: ``callback(outputs, userdata, error)``: outputs is a list of numpy arrays valid only
#: during the call (None when ``error`` is set); it runs on a backend thread.
Callback = Callable[[list[np.ndarray] | None, Any, BaseException | None], None]


@dataclass
class BackendSettings:
    """How to compile and run a model.

    Attributes:
        device: OpenVINO device name (``CPU``).
        precision: ``fp32`` (``INFERENCE_PRECISION_HINT=f32``), ``bf16`` or ``int8``.
        hint: ``THROUGHPUT``, ``LATENCY`` or None (scenario default).
        streams: inference streams (None: the hint decides).
        threads: inference threads (None: all cores).
        nireq: infer requests in flight (None: the compiled model's optimal number).
    """

    device: str = "CPU"
    precision: str = "fp32"
    hint: str | None = None
    streams: int | None = None
    threads: int | None = None
    nireq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Backend(ABC):
    """Loads one model and runs inference synchronously or asynchronously."""

    name: str = "base"

    @abstractmethod
    def load(self, card, weights, settings: BackendSettings) -> None:
        """Prepare (convert, compile) the card's model with ``weights``.

        Raises:
            HarnessError: the model or precision cannot be loaded.
        """

    @abstractmethod
    def infer(self, sample: np.ndarray) -> list[np.ndarray]:
        """Synchronous inference of one batch; returns the outputs (copies)."""

    @abstractmethod
    def set_callback(self, callback: Callback) -> None:
        """Set the completion callback for :meth:`start_async`."""

    @abstractmethod
    def start_async(self, sample: np.ndarray, userdata: Any) -> None:
        """Start inference of one batch; blocks only while all requests are busy."""

    @abstractmethod
    def wait_all(self) -> None:
        """Block until every started inference has called back."""

    @abstractmethod
    def parallelism(self) -> int:
        """Number of inferences the backend runs at once (infer requests)."""

    @abstractmethod
    def properties(self) -> dict[str, Any]:
        """Effective runtime properties, for the run manifest."""

    def model_info(self) -> dict[str, Any]:
        """Facts about the loaded model (file, size on disk in MB, ...)."""
        return {}
