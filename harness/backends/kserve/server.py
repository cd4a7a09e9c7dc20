"""``harness serve``'s model server: a compiled OpenVINO model behind ``kserve.ModelServer``.

KServe's Python model server speaks the v2 / Open Inference Protocol over REST and gRPC.
This module adds what the harness needs around it (measured with kserve 0.21 on a 2-core VM):

- :class:`OpenVINOModel`: a ``kserve.Model`` whose ``predict`` runs the compiled model on a
  pool of OpenVINO infer requests in worker threads, so requests overlap like the local
  backend's, and whose metadata (inputs, outputs: names, datatypes, shapes) is the model's;
  REST requests without an ``id`` are answered (``response_id = payload.id or ""``).
- :class:`LoopbackModelServer`: ``kserve.ModelServer`` binds REST to 0.0.0.0 and gRPC to
  ``[::]`` unconditionally; this subclass binds both to ``host`` (127.0.0.1 by default,
  what tests use) and keeps kserve's per-request access and timing logs off.

gRPC is the fast path: kserve's REST binary path turns tensors into Python lists (about
100 ms per 1x3x224x224 request), so the harness's client uses gRPC against this server.
"""

from __future__ import annotations

import asyncio
import logging
import queue
from concurrent import futures
from typing import Any

import kserve
import numpy as np
from grpc import aio
from kserve.logging import trace_logger
from kserve.model_server import FASTAPI_APP_IMPORT_STRING
from kserve.protocol.grpc import server as grpc_server
from kserve.protocol.grpc.grpc_predict_v2_pb2_grpc import \
    add_GRPCInferenceServiceServicer_to_server
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse
from kserve.protocol.rest.server import RESTServer
from kserve.utils.numpy_codec import from_np_dtype

#: numpy dtype name -> v2 datatype (Open Inference Protocol, "Tensor Data Types").
_DATATYPES = {"float32": "FP32", "uint8": "UINT8", "int8": "INT8", "float16": "FP16",
              "int32": "INT32", "int64": "INT64", "bfloat16": "BF16"}


def _name(port, fallback: str) -> str:
    """A port's tensor name, or ``fallback`` (``output_0``...) for an unnamed one (IR
    converted from PyTorch has unnamed outputs; OpenVINO raises on ``get_any_name``)."""
    names = port.get_names()
    return port.get_any_name() if names else fallback


def _v2_type(element_type) -> str:
    return _DATATYPES.get(str(element_type.to_dtype()), "FP32")


class OpenVINOModel(kserve.Model):
    """One compiled OpenVINO model served under ``name``.

    Args:
        name: the served model name (the card's, by default).
        compiled: an ``openvino.CompiledModel``.
        nireq: infer requests in the pool (requests served at once).
        platform: what the metadata's ``platform`` says (e.g. ``openvino_int8``).
    """

    def __init__(self, name: str, compiled, nireq: int, platform: str):
        super().__init__(name)
        self.compiled = compiled
        self.platform = platform
        self._requests: queue.Queue = queue.Queue()
        for _ in range(max(1, int(nireq))):
            self._requests.put(compiled.create_infer_request())
        self._outputs = [(_name(o, f"output_{k}"), o) for k, o in enumerate(compiled.outputs)]
        self.ready = True

    def get_input_types(self) -> list[dict[str, Any]]:
        return [{"name": _name(i, f"input_{k}"), "datatype": _v2_type(i.get_element_type()),
                 "shape": [int(d) for d in i.get_shape()]}
                for k, i in enumerate(self.compiled.inputs)]

    def get_output_types(self) -> list[dict[str, Any]]:
        return [{"name": name, "datatype": _v2_type(o.get_element_type()),
                 "shape": [int(d) for d in o.get_shape()]} for name, o in self._outputs]

    def _infer(self, sample: np.ndarray) -> list[np.ndarray]:
        request = self._requests.get()
        try:
            request.infer([np.ascontiguousarray(sample)], share_inputs=True)
            return [request.get_output_tensor(k).data.copy()
                    for k in range(len(self._outputs))]
        finally:
            self._requests.put(request)

    async def predict(self, payload: InferRequest, headers: dict | None = None,
                      response_headers: dict | None = None) -> InferResponse:
        """Run one request (its first input tensor) in a worker thread."""
        sample = payload.inputs[0].as_numpy()
        loop = asyncio.get_running_loop()
        outputs = await loop.run_in_executor(None, self._infer, sample)
        return InferResponse(
            response_id=payload.id or "", model_name=self.name,
            infer_outputs=[InferOutput(name=name, shape=list(arr.shape),
                                       datatype=from_np_dtype(arr.dtype), data=arr)
                           for (name, _), arr in zip(self._outputs, outputs)])


class _HostGRPCServer(grpc_server.GRPCServer):
    """kserve's gRPC server listening on ``host:port`` instead of ``[::]:port``."""

    def __init__(self, host: str, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._host = host

    async def start(self, max_workers):
        servicer = InferenceServicer(self._data_plane, self._model_repository_extension)
        self._server = aio.server(futures.ThreadPoolExecutor(max_workers=max_workers))
        add_GRPCInferenceServiceServicer_to_server(servicer, self._server)
        self._server.add_insecure_port(f"{self._host}:{self._port}")
        await self._server.start()
        await self._server.wait_for_termination()


class LoopbackModelServer(kserve.ModelServer):
    """``kserve.ModelServer`` bound to ``host`` (REST and gRPC), one REST worker, quiet.

    Args:
        host: the address both servers listen on (default 127.0.0.1).
        http_port, grpc_port: their ports.
    """

    def __init__(self, host: str = "127.0.0.1", http_port: int = 8080,
                 grpc_port: int = 8081, **kwargs):
        super().__init__(http_port=http_port, grpc_port=grpc_port, workers=1,
                         enable_latency_logging=False, access_log_format=None, **kwargs)
        self.host = host

    def start(self, models: list) -> None:
        """Register the models and serve REST and gRPC on ``host`` until SIGINT/SIGTERM."""
        for name in ("uvicorn.access", "kserve.trace"):
            logging.getLogger(name).setLevel(logging.WARNING)
        trace_logger.setLevel(logging.WARNING)
        self._register_and_check_atleast_one_model_is_ready(models)
        self._rest_server = RESTServer(
            FASTAPI_APP_IMPORT_STRING, self.dataplane, self.model_repository_extension,
            self.http_port, access_log_format=None, workers=1,
            grace_period=self.grace_period, event_loop=self.event_loop,
            timeout_keep_alive=self.timeout_keep_alive)
        self._rest_server.config.host = self.host
        self.servers.append(self._rest_server.start())
        self._grpc_server = _HostGRPCServer(self.host, self.grpc_port, self.dataplane,
                                            self.model_repository_extension, kwargs={},
                                            grace_period=self.grace_period)
        self.servers.append(self._grpc_server.start(self.max_threads))
        self.setup_event_loop()
        self.register_signal_handler()
        asyncio.run(self._serve())


__all__ = ["OpenVINOModel", "LoopbackModelServer"]
