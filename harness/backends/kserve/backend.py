"""The KServe v2 client backend: each sample is one inference request to a remote server.

The QSL stays local: preprocessed samples are sent as tensors; the responses' output tensors
go through the card's post-processing as with a local model, so every scenario, accuracy
mode, report and sweep works over the network.

- gRPC (default): ``tritonclient.grpc`` ``async_infer``, whose completion callback answers
  LoadGen; at most ``concurrency`` requests in flight.
- HTTP: ``tritonclient.http`` with the binary tensor extension (never JSON tensors), one
  client per worker thread (``concurrency`` threads), synchronous requests.

Before a run, :meth:`KServeBackend.load` checks that the server is live, the model ready,
and that the model's input and output metadata (names, shapes, datatypes) fit the card. A
request that fails (the server died, a timeout) calls back with the error: the SUT answers
the sample with an empty response and counts the failure, so LoadGen never hangs and the run
is marked failed with the reason. A server that stops answering (frozen, not closed) fails
fast: after the first request that gets no answer within ``--timeout-s``, every later and
queued sample is answered as failed at once instead of each waiting its own timeout
(:attr:`KServeBackend.stalled`). The checks before a run honour ``--timeout-s`` too.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from google.protobuf.json_format import MessageToDict

from ...errors import HarnessError
from ..base import Backend, Callback, LoadContext
from .config import KServeConfig

#: Requests in flight when ``--concurrency`` is not given.
DEFAULT_CONCURRENCY = 4
#: KServe v2 datatype of each numpy dtype the cards use (Open Inference Protocol, "Tensor
#: Data Types").
DATATYPES = {"float32": "FP32", "uint8": "UINT8", "int8": "INT8", "float16": "FP16",
             "int32": "INT32", "int64": "INT64"}


class KServeBackend(Backend):
    """Runs inference on a remote KServe v2 server (see the module docstring)."""

    name = "kserve"

    def __init__(self) -> None:
        self.config: KServeConfig | None = None
        self.model_name = ""
        self.input_name = ""
        self.output_names: list[str] = []
        self.input_datatype = ""
        self.server: dict[str, Any] = {}
        self.metadata: dict[str, Any] = {}
        self._client = None
        self._callback: Callback | None = None
        self._slots: threading.Semaphore | None = None
        self._idle = threading.Condition()
        self._pending = 0
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        #: Why the server is taken as stalled (a request timed out), or None.
        self.stalled: str | None = None

    # --- connection -----------------------------------------------------------------------
    def _new_client(self):
        c = self.config
        if c.protocol == "grpc":
            return grpcclient.InferenceServerClient(url=c.endpoint)
        return httpclient.InferenceServerClient(url=c.endpoint, network_timeout=c.timeout_s,
                                                connection_timeout=c.timeout_s)

    def load(self, card, weights, config: KServeConfig,
             context: LoadContext = LoadContext()) -> None:
        """Connect, and check the server and the model's metadata against the card.

        Raises:
            HarnessError: tritonclient is not installed, the server cannot be reached or is
                not live, the model is unknown or not ready, or its input/outputs do not fit
                the card (names, shapes, datatypes: each named).
        """
        self.config = config
        self.model_name = config.model_name or card.name
        self._client = self._new_client()
        where = f"KServe server {config.protocol}://{config.endpoint}"
        deadline = time.monotonic() + config.timeout_s

        def within() -> dict[str, float]:  # gRPC: what is left of --timeout-s for all checks
            if config.protocol != "grpc":
                return {}  # the HTTP client has --timeout-s as its network timeout
            return {"client_timeout": max(0.001, deadline - time.monotonic())}

        try:
            if not self._client.is_server_live(**within()):
                raise HarnessError(f"{where} is not live")
            self.server = self._as_dict(self._client.get_server_metadata(**within()))
            if not self._client.is_model_ready(self.model_name, **within()):
                raise HarnessError(f"{where} has no ready model '{self.model_name}'; give its "
                                   f"name with --model-name")
            self.metadata = self._as_dict(self._client.get_model_metadata(self.model_name,
                                                                          **within()))
        except HarnessError:
            raise
        except Exception as exc:  # tritonclient's InferenceServerException, socket errors
            if _timed_out(exc):
                raise HarnessError(f"{where} did not answer within --timeout-s "
                                   f"{config.timeout_s:g} s (is it stopped or overloaded?)"
                                   ) from None
            raise HarnessError(f"{where} cannot be reached or refused the request: "
                               f"{exc.__class__.__name__}: {exc}") from None
        self._check_metadata(card, where)
        n = config.concurrency or DEFAULT_CONCURRENCY
        self._slots = threading.Semaphore(n)
        if config.protocol == "http":
            self._pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="kserve-http")

    @staticmethod
    def _as_dict(message) -> dict[str, Any]:
        data = message if isinstance(message, dict) else MessageToDict(
            message, preserving_proto_field_name=True)
        for tensor in data.get("inputs", []) + data.get("outputs", []):
            # protobuf's JSON form writes int64 dims as strings
            tensor["shape"] = [int(d) for d in tensor.get("shape", [])]
        return data

    def _check_metadata(self, card, where: str) -> None:
        inputs = self.metadata.get("inputs") or []
        outputs = self.metadata.get("outputs") or []
        if len(inputs) != 1:
            raise HarnessError(f"{where}: model '{self.model_name}' has {len(inputs)} inputs; "
                               f"the card {card.name} feeds one")
        spec = inputs[0]
        want_type = DATATYPES.get(card.input_dtype)
        shape = [int(d) for d in spec.get("shape", [])]
        card_shape = list(card.input_shape)
        fits = len(shape) == len(card_shape) and all(
            d in (-1, c) for d, c in zip(shape, card_shape))
        if spec.get("datatype") != want_type or not fits:
            raise HarnessError(
                f"{where}: model '{self.model_name}' input {spec.get('name')} is "
                f"{spec.get('datatype')} {shape}; the card {card.name} sends {want_type} "
                f"{card_shape} ({card.path}). Serve the card's model, or give another card")
        declared = card.postprocessing.get("output_shapes") or (
            [card.postprocessing["output_shape"]] if "output_shape" in card.postprocessing
            else None)
        if declared is not None:
            got = [[int(d) for d in o.get("shape", [])] for o in outputs]
            if len(got) != len(declared) or any(
                    len(g) != len(w) or any(d not in (-1, int(x)) for d, x in zip(g, w))
                    for g, w in zip(got, declared)):
                raise HarnessError(f"{where}: model '{self.model_name}' outputs {got}; the "
                                   f"card {card.name} declares {declared}")
        self.input_name = spec["name"]
        self.input_datatype = spec["datatype"]
        self.output_names = [o["name"] for o in outputs]

    # --- inference ------------------------------------------------------------------------
    def _inputs(self, sample: np.ndarray, module):
        tensor = module.InferInput(self.input_name, list(sample.shape), self.input_datatype)
        if self.config.protocol == "http":
            tensor.set_data_from_numpy(sample, binary_data=True)
            outputs = [module.InferRequestedOutput(n, binary_data=True)
                       for n in self.output_names]
        else:
            tensor.set_data_from_numpy(sample)
            outputs = [module.InferRequestedOutput(n) for n in self.output_names]
        return [tensor], outputs

    def _module(self):
        return grpcclient if self.config.protocol == "grpc" else httpclient

    def _http_client(self):
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._new_client()
        return client

    def infer(self, sample: np.ndarray) -> list[np.ndarray]:
        """One synchronous request; returns the output tensors in the metadata's order.

        Raises:
            HarnessError: the request failed (the server's or the connection's reason), or
                an earlier one timed out (:attr:`stalled`).
        """
        if self.stalled:
            raise HarnessError(self.stalled)
        module = self._module()
        inputs, outputs = self._inputs(sample, module)
        client = self._client if self.config.protocol == "grpc" else self._http_client()
        try:
            kwargs = {"client_timeout": self.config.timeout_s} \
                if self.config.protocol == "grpc" else {}
            result = client.infer(self.model_name, inputs, outputs=outputs, **kwargs)
        except Exception as exc:
            if _timed_out(exc):
                raise HarnessError(self._stall()) from None
            raise HarnessError(f"inference request to {self.config.endpoint} failed: "
                               f"{exc.__class__.__name__}: {exc}") from None
        return [np.array(result.as_numpy(n)) for n in self.output_names]

    def _stall(self) -> str:
        """Take the server as stalled (a request got no answer in time); returns why."""
        if self.stalled is None:
            self.stalled = (f"KServe server {self.config.endpoint} stopped answering: a "
                            f"request got no answer within --timeout-s "
                            f"{self.config.timeout_s:g} s; the samples after it are answered "
                            f"as failed without waiting")
        return self.stalled

    def set_callback(self, callback: Callback) -> None:
        self._callback = callback

    def _done(self, userdata, outputs, error) -> None:
        try:
            self._callback(outputs, userdata, error)
        finally:
            self._slots.release()
            with self._idle:
                self._pending -= 1
                self._idle.notify_all()

    def start_async(self, sample: np.ndarray, userdata: Any) -> None:
        """Send one request; blocks while ``concurrency`` requests are in flight. Once the
        server is :attr:`stalled`, the sample fails at once (nothing is sent)."""
        if self.stalled is None:
            self._slots.acquire()
            if self.stalled is not None:  # it stalled while this one waited for a slot
                self._slots.release()
        if self.stalled is not None:
            self._callback(None, userdata, HarnessError(self.stalled))
            return
        with self._idle:
            self._pending += 1
        if self.config.protocol == "http":
            self._pool.submit(self._http_request, sample, userdata)
            return
        module = self._module()
        inputs, outputs = self._inputs(sample, module)

        def on_result(result, error):
            if error is not None:
                self._done(userdata, None, HarnessError(self._stall()) if _timed_out(error)
                           else RuntimeError(f"{error}"))
                return
            try:
                outs = [result.as_numpy(n) for n in self.output_names]
            except BaseException as exc:  # answer the sample whatever happens
                self._done(userdata, None, exc)
                return
            self._done(userdata, outs, None)

        try:
            self._client.async_infer(self.model_name, inputs, on_result, outputs=outputs,
                                     client_timeout=self.config.timeout_s)
        except BaseException as exc:
            self._done(userdata, None, exc)

    def _http_request(self, sample: np.ndarray, userdata: Any) -> None:
        try:
            outs = self.infer(sample)
        except BaseException as exc:  # answer the sample whatever happens
            self._done(userdata, None, exc)
            return
        self._done(userdata, outs, None)

    def wait_all(self) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._pending == 0)

    def parallelism(self) -> int:
        return self.config.concurrency or DEFAULT_CONCURRENCY

    # --- facts ----------------------------------------------------------------------------
    def sut_name(self) -> str:
        """The SUT's name for LoadGen's Query Dispatch Library (network division): the
        server's own name and version, the endpoint and the model; it contains "Network SUT"
        as the MLCommons checker requires (constants.py,
        ``NETWORK_MODE_REQUIRED_SUBSTRING_IN_SUT_NAME``)."""
        return (f"Network SUT: {self.server.get('name', 'unknown server')} "
                f"{self.server.get('version', '')} at {self.config.protocol}://"
                f"{self.config.endpoint}, model {self.model_name}").replace("  ", " ")

    def properties(self) -> dict[str, Any]:
        """The server's metadata and the model's, as the server reports them."""
        return {"server": self.server, "model_metadata": self.metadata,
                "protocol": self.config.protocol, "endpoint": self.config.endpoint,
                "concurrency": self.parallelism()}

    def settings(self) -> dict[str, Any]:
        c = self.config
        return {"endpoint": c.endpoint, "protocol": c.protocol, "model_name": self.model_name,
                "precision": c.precision, "concurrency": c.concurrency,
                "network_division": c.network_division}

    def model_info(self) -> dict[str, Any]:
        return {"ir": None, "remote_model": self.model_name,
                "platform": self.metadata.get("platform")}


def _timed_out(exc: BaseException) -> bool:
    """True when a request failed because the server did not answer in time (gRPC
    ``DEADLINE_EXCEEDED``; a socket timeout over HTTP)."""
    status = getattr(exc, "status", None)
    code = str(status() if callable(status) else status)
    text = str(exc).lower()
    return (isinstance(exc, TimeoutError) or "DEADLINE_EXCEEDED" in code
            or "deadline exceeded" in text or "timed out" in text)


__all__ = ["KServeBackend", "DEFAULT_CONCURRENCY"]
