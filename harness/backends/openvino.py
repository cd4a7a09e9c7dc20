"""OpenVINO backend: compiled model plus an ``AsyncInferQueue`` of infer requests.

Precision: ``fp32`` sets ``INFERENCE_PRECISION_HINT=f32`` explicitly, because on CPUs with
AVX-512 BF16 or AMX OpenVINO otherwise runs an FP32 model in bf16 (OpenVINO CPU plugin docs,
"Inference Precision"). The effective properties of the compiled model are reported for the
run manifest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import openvino.properties as props
import openvino.properties.hint as hints

from ..errors import HarnessError
from .base import Backend, BackendSettings, Callback

#: precision name -> INFERENCE_PRECISION_HINT
PRECISION_HINTS = {"fp32": ov.Type.f32, "bf16": ov.Type.bf16, "int8": ov.Type.f32}
PERFORMANCE_HINTS = {"THROUGHPUT": hints.PerformanceMode.THROUGHPUT,
                     "LATENCY": hints.PerformanceMode.LATENCY,
                     "CUMULATIVE_THROUGHPUT": hints.PerformanceMode.CUMULATIVE_THROUGHPUT}


def compile_config(settings: BackendSettings) -> dict[str, Any]:
    """OpenVINO compile properties for ``settings``.

    Raises:
        HarnessError: unknown precision or performance hint.
    """
    if settings.precision not in PRECISION_HINTS:
        raise HarnessError(f"unknown precision '{settings.precision}'; valid: "
                           f"{', '.join(PRECISION_HINTS)}")
    config: dict[str, Any] = {hints.inference_precision: PRECISION_HINTS[settings.precision]}
    hint = (settings.hint or "THROUGHPUT").upper()
    if hint not in PERFORMANCE_HINTS:
        raise HarnessError(f"unknown performance hint '{settings.hint}'; valid: "
                           f"{', '.join(PERFORMANCE_HINTS)}")
    config[hints.performance_mode] = PERFORMANCE_HINTS[hint]
    if settings.streams is not None:
        config[props.num_streams] = int(settings.streams)
    if settings.threads is not None:
        config[props.inference_num_threads] = int(settings.threads)
    return config


class OpenVINOBackend(Backend):
    """Runs an OpenVINO IR (or any model OpenVINO reads) on a device, by default the CPU."""

    name = "openvino"

    def __init__(self) -> None:
        self.core = ov.Core()
        self.compiled: ov.CompiledModel | None = None
        self.queue: ov.AsyncInferQueue | None = None
        self.model_path: Path | None = None
        self._callback: Callback | None = None
        self._n_outputs = 0
        self._sync_request: ov.InferRequest | None = None

    def load(self, card, weights, settings: BackendSettings) -> None:
        """Convert (cached) and compile; see :func:`harness.ir.fp32_model`."""
        from .. import ir

        self.model_path = ir.model_for_precision(card, weights, settings.precision)
        self.load_ir(self.model_path, settings)

    def load_ir(self, path: Path, settings: BackendSettings) -> None:
        """Compile the IR at ``path`` with ``settings`` and create the infer queue.

        Raises:
            HarnessError: the file is unreadable or the device refuses the configuration.
        """
        self.model_path = Path(path)
        try:
            model = self.core.read_model(str(path))
        except Exception as exc:
            raise HarnessError(f"OpenVINO cannot read model {path}: {str(exc)[:300]}") from exc
        try:
            self.compiled = self.core.compile_model(model, settings.device,
                                                    compile_config(settings))
        except RuntimeError as exc:
            raise HarnessError(f"OpenVINO cannot compile {path} on {settings.device} with "
                               f"{settings.to_dict()}: {str(exc)[:300]}") from exc
        nireq = settings.nireq or self.compiled.get_property(
            props.optimal_number_of_infer_requests)
        self._sync_request = None
        self.queue = ov.AsyncInferQueue(self.compiled, int(nireq))
        self.queue.set_callback(self._on_done)
        self._n_outputs = len(self.compiled.outputs)

    def _on_done(self, request: ov.InferRequest, userdata: Any) -> None:
        try:
            outputs = [request.get_output_tensor(i).data for i in range(self._n_outputs)]
        except BaseException as exc:  # answer the sample whatever happens
            self._callback(None, userdata, exc)
            return
        self._callback(outputs, userdata, None)

    def set_callback(self, callback: Callback) -> None:
        self._callback = callback

    def infer(self, sample: np.ndarray) -> list[np.ndarray]:
        """Synchronous inference on one reused infer request (SingleStream, calibration)."""
        if self._sync_request is None:
            self._sync_request = self.compiled.create_infer_request()
        self._sync_request.infer([sample], share_inputs=True)
        return [self._sync_request.get_output_tensor(i).data.copy()
                for i in range(self._n_outputs)]

    def start_async(self, sample: np.ndarray, userdata: Any) -> None:
        self.queue.start_async([sample], userdata, share_inputs=True)

    def wait_all(self) -> None:
        self.queue.wait_all()

    def parallelism(self) -> int:
        return len(self.queue)

    def properties(self) -> dict[str, Any]:
        """Every readable property of the compiled model, as strings."""
        out: dict[str, Any] = {}
        for name in self.compiled.get_property(props.supported_properties):
            if name == props.supported_properties:
                continue
            try:
                out[name] = str(self.compiled.get_property(name))
            except Exception:  # some properties are write-only or unsupported here
                continue
        out["NUM_INFER_REQUESTS"] = str(len(self.queue))
        return out

    def model_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"ir": str(self.model_path)}
        if self.model_path is not None:
            size = self.model_path.stat().st_size
            weights_file = self.model_path.with_suffix(".bin")
            if weights_file.is_file():
                size += weights_file.stat().st_size
            info["size_mb"] = round(size / 1e6, 3)
        return info
