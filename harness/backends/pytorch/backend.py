"""Vanilla PyTorch backend: the card's network in eager mode, FP32, ``torch.inference_mode``.

The baseline that published OpenVINO results are compared with ("vanilla PyTorch"): no
compilation, no quantization, batch 1 per sample. ``threads`` sets
``torch.set_num_threads`` (default: the physical core count); the value in effect is
recorded in :meth:`PyTorchBackend.properties`. Asynchronous inference (Offline, Server)
runs on ``nireq`` worker threads (default 1: eager PyTorch parallelises inside each
operator, so one worker already uses every thread); SingleStream calls :meth:`infer`.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import numpy as np
import psutil
import torch

from ...errors import HarnessError
from ...networks import load_torch_model
from ..base import Backend, Callback, LoadContext
from .config import PyTorchConfig


class PyTorchBackend(Backend):
    """Runs ``harness.networks.load_torch_model(card, weights)`` in eager FP32."""

    name = "pytorch"

    def __init__(self) -> None:
        self.model: torch.nn.Module | None = None
        self.config: PyTorchConfig | None = None
        self._callback: Callback | None = None
        self._queue: queue.Queue = queue.Queue()
        self._workers: list[threading.Thread] = []
        self._slots: threading.Semaphore | None = None
        self._pending = 0
        self._idle = threading.Condition()
        self.weights_path = None

    def load(self, card, weights, config: PyTorchConfig,
             context: LoadContext = LoadContext()) -> None:
        """Build the network and apply the weights.

        Raises:
            HarnessError: a card without a PyTorch definition (a .tflite/.onnx file), or
                weights that do not fit the architecture. (Precisions other than fp32 are
                refused by :class:`PyTorchConfig`.)
        """
        if card.source.get("kind") not in ("torchvision", "builder"):
            raise HarnessError(f"model {card.name} has no PyTorch definition (source kind "
                               f"'{card.source.get('kind')}'): use BACKEND=openvino")
        if weights.path is not None and weights.path.suffix.lower() not in (".pth", ".pt"):
            raise HarnessError(f"BACKEND=pytorch needs a PyTorch checkpoint (.pth/.pt), not "
                               f"{weights.path.name}")
        self.config = config
        threads = config.threads or psutil.cpu_count(logical=False) or 1
        torch.set_num_threads(int(threads))
        self.model = load_torch_model(card, weights)
        self.weights_path = weights.path
        self.dtype = getattr(torch, card.input_dtype)
        n = int(config.nireq or 1)
        self._slots = threading.Semaphore(n)
        for i in range(n):
            worker = threading.Thread(target=self._work, name=f"pytorch-{i}", daemon=True)
            worker.start()
            self._workers.append(worker)

    def _forward(self, sample: np.ndarray) -> list[np.ndarray]:
        with torch.inference_mode():
            out = self.model(torch.from_numpy(sample))
        outs = out if isinstance(out, (tuple, list)) else [out]
        return [o.numpy() for o in outs]

    def _work(self) -> None:
        while True:
            sample, userdata = self._queue.get()
            try:
                outputs = self._forward(sample)
            except BaseException as exc:  # answer the sample whatever happens
                self._callback(None, userdata, exc)
            else:
                self._callback(outputs, userdata, None)
            finally:
                self._slots.release()
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def infer(self, sample: np.ndarray) -> list[np.ndarray]:
        return [np.array(o) for o in self._forward(sample)]

    def set_callback(self, callback: Callback) -> None:
        self._callback = callback

    def start_async(self, sample: np.ndarray, userdata: Any) -> None:
        self._slots.acquire()
        with self._idle:
            self._pending += 1
        self._queue.put((sample, userdata))

    def wait_all(self) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0)

    def parallelism(self) -> int:
        return len(self._workers)

    def properties(self) -> dict[str, Any]:
        """Thread settings and versions in effect."""
        return {"torch_version": torch.__version__, "num_threads": torch.get_num_threads(),
                "num_interop_threads": torch.get_num_interop_threads(),
                "workers": len(self._workers), "mode": "eager, torch.inference_mode",
                "precision": "fp32", "mkldnn_enabled": bool(torch.backends.mkldnn.enabled)}

    def settings(self) -> dict[str, Any]:
        """Threads and workers asked for (None: the defaults, see :meth:`properties`)."""
        return {"precision": "fp32", "threads": self.config.threads,
                "nireq": self.config.nireq}

    def model_info(self) -> dict[str, Any]:
        return {"ir": None, "checkpoint": str(self.weights_path) if self.weights_path else None}
