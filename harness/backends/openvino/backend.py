"""OpenVINO backend: compiled model plus an ``AsyncInferQueue`` of infer requests.

A failed asynchronous inference is answered: ``AsyncInferQueue`` never calls back for a
request whose inference raised, and re-raises that error from every later ``start_async``
and ``wait_all``. The backend keeps the samples started and not yet called back; when the
queue raises (or :meth:`OpenVINOBackend.poll` finds a failed request: the last samples of a
run have no later ``start_async``), it waits for every request, calls back each sample
still outstanding with the error, and starts a fresh queue (otherwise LoadGen would wait
for the lost samples forever).

Precision: ``fp32`` sets ``INFERENCE_PRECISION_HINT=f32`` explicitly, because on CPUs with
AVX-512 BF16 or AMX OpenVINO otherwise runs an FP32 model in bf16 (OpenVINO CPU plugin docs,
"Inference Precision"). The effective properties of the compiled model are reported for the
run manifest.
"""

from __future__ import annotations

import ctypes
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import openvino.properties as props
import openvino.properties.hint as hints

from ... import system
from ...errors import BatchNotSupported, HarnessError, shorten
from ..base import Backend, Callback, LoadContext
from . import ir, quantization
from .config import NIREQ_PER_STREAM, OpenVINOConfig

#: precision name -> INFERENCE_PRECISION_HINT
PRECISION_HINTS = {"fp32": ov.Type.f32, "bf16": ov.Type.bf16, "int8": ov.Type.f32}
PERFORMANCE_HINTS = {"THROUGHPUT": hints.PerformanceMode.THROUGHPUT,
                     "LATENCY": hints.PerformanceMode.LATENCY,
                     "CUMULATIVE_THROUGHPUT": hints.PerformanceMode.CUMULATIVE_THROUGHPUT}


def compile_config(settings: OpenVINOConfig) -> dict[str, Any]:
    """OpenVINO compile properties for ``settings`` (its precision, hint, streams, threads;
    the values are checked by :class:`OpenVINOConfig`)."""
    config: dict[str, Any] = {hints.inference_precision: PRECISION_HINTS[settings.precision]}
    config[hints.performance_mode] = PERFORMANCE_HINTS[settings.hint or "THROUGHPUT"]
    if settings.streams is not None:
        config[props.num_streams] = int(settings.streams)
    if settings.threads is not None:
        config[props.inference_num_threads] = int(settings.threads)
    return config


#: Idents of OpenVINO's threads whose Python thread state :func:`keep_thread_state` kept.
_KEPT_THREAD_STATES: set[int] = set()


def keep_thread_state() -> None:
    """Keep the calling thread's Python thread state for the thread's life.

    OpenVINO calls the completion callback on its own (C++) threads. For each call pybind11
    creates a Python thread state and deletes it afterwards; CPython 3.11+ maps and unmaps
    each thread state's frame stack, and every unmap interrupts the other cores to flush
    their TLBs (measured with ``perf`` on a 2-core Xeon: IPIs, page faults and context
    switches were most of the callback thread's time, which was about 12% of a core in a
    530 samples/s Offline run, beside the inference threads). ``PyGILState_Ensure`` on
    the thread that holds the GIL only counts one more user of its state, which pybind11
    then never deletes. One state per OpenVINO thread stays (a few KiB each); call it from
    the callback, with the GIL held.
    """
    ctypes.pythonapi.PyGILState_Ensure()
    _KEPT_THREAD_STATES.add(threading.get_ident())


class OpenVINOBackend(Backend):
    """Runs an OpenVINO IR (or any model OpenVINO reads) on a device, by default the CPU."""

    name = "openvino"

    def __init__(self) -> None:
        self.core = ov.Core()
        self.compiled: ov.CompiledModel | None = None
        self.queue: ov.AsyncInferQueue | None = None
        self.model_path: Path | None = None
        self.config: OpenVINOConfig | None = None
        self._build: dict[str, Any] | None = None
        self._callback: Callback | None = None
        self._n_outputs = 0
        self._input_dtype: np.dtype | None = None  # the lean path's input type (one input)
        self._sync_request: ov.InferRequest | None = None
        self._start_tensor = None  # the queue's start_async(tensor, userdata) (pybind)
        self._outstanding: dict[int, Any] = {}
        self._next_token = 0
        self._lock = threading.Lock()
        # starting and polling exclude each other (the SUT may start on LoadGen's thread
        # while its dispatcher polls); re-entrant: a failed start answers and starts again
        self._start_lock = threading.RLock()

    def load(self, card, weights, config: OpenVINOConfig,
             context: LoadContext = LoadContext()) -> None:
        """Convert (cached), quantize for INT8 (cached) and compile.

        The performance hint defaults to the scenario's (``context.default_hint``); INT8
        calibrates on ``config.quantization.calibration_dataset``, else the run's dataset.

        Raises:
            HarnessError: bf16 on a CPU without it, or the model cannot be built or compiled.
        """
        if config.precision == "bf16" and not system.supports_bf16():
            cap = system.max_cpu_isa()
            why = (f"ONEDNN_MAX_CPU_ISA={cap} caps the kernels below them" if cap
                   else "this CPU has neither")
            raise HarnessError(f"precision bf16 needs a CPU with AVX-512 BF16 or AMX; {why}. "
                               "Use PRECISION=fp32 or int8.")
        if config.hint is None:
            config = replace(config, hint=context.default_hint)
        if config.precision == "int8":
            path = quantization.int8_model(card, weights, config.quantization,
                                           dataset=(config.quantization.calibration_dataset
                                                    or context.dataset),
                                           eval_count=context.eval_count)
            self._build = quantization.run_facts(path, context.eval_count)
        else:  # fp32 and bf16 compile the same FP32 IR with another precision hint
            path = ir.fp32_model(card, weights)
        self.load_ir(path, config)

    def load_ir(self, path: Path, settings: OpenVINOConfig) -> None:
        """Compile the IR at ``path`` with ``settings`` and create the infer queue.

        Raises:
            HarnessError: the file is unreadable or the device refuses the configuration.
            BatchNotSupported: ``batch`` > 1 and the model fixes its batch size inside.
        """
        self.model_path = Path(path)
        try:
            model = self.core.read_model(str(path))
        except Exception as exc:
            raise HarnessError(f"OpenVINO cannot read model {path}: {shorten(exc)}") from exc
        if (settings.batch or 1) > 1:
            shape = list(model.input(0).get_partial_shape().to_shape())
            try:
                model.reshape([int(settings.batch), *shape[1:]])
            except Exception as exc:
                why = [line for line in str(exc).strip().splitlines() if line.strip()][-1:]
                raise BatchNotSupported(
                    f"--batch {settings.batch}: the model {path} cannot be reshaped to a "
                    f"batch of {settings.batch} (OpenVINO: {' '.join(why)}): it fixes its "
                    f"batch size inside; leave --batch out for this model") from None
        try:
            self.compiled = self.core.compile_model(model, settings.device,
                                                    compile_config(settings))
        except RuntimeError as exc:
            raise HarnessError(f"OpenVINO cannot compile {path} on {settings.device} with "
                               f"{settings}: {shorten(exc)}") from exc
        self.config = settings
        self._sync_request = None
        streams = int(self.compiled.get_property(props.num_streams))
        nireq = settings.nireq or max(
            int(self.compiled.get_property(props.optimal_number_of_infer_requests)),
            NIREQ_PER_STREAM * streams)
        self._n_outputs = len(self.compiled.outputs)
        self._input_dtype = (self.compiled.input(0).element_type.to_dtype()
                             if len(self.compiled.inputs) == 1 else None)
        self._outstanding = {}
        self.queue = self._new_queue(int(nireq))

    def _new_queue(self, nireq: int) -> ov.AsyncInferQueue:
        queue = ov.AsyncInferQueue(self.compiled, nireq)
        queue.set_callback(self._on_done)
        # start_async(tensor, userdata) of the pybind class: one ov.Tensor, no dispatch
        self._start_tensor = super(ov.AsyncInferQueue, queue).start_async
        return queue

    def _on_done(self, request: ov.InferRequest, token: int) -> None:
        if threading.get_ident() not in _KEPT_THREAD_STATES:
            keep_thread_state()
        with self._lock:
            userdata = self._outstanding.pop(token)
        try:
            outputs = [request.get_output_tensor(i).data for i in range(self._n_outputs)]
        except BaseException as exc:  # answer the sample whatever happens
            self._callback(None, userdata, exc)
            return
        self._callback(outputs, userdata, None)

    def _answer_failed(self, error: BaseException) -> None:
        """After the queue raised an inference's error: wait for every request (a request's
        ``wait`` returns after its callback), call back each sample that got no callback
        with ``error``, and replace the queue, which would re-raise the error forever."""
        for request in self.queue:
            try:
                request.wait()
            except RuntimeError:
                pass
        with self._lock:
            failed = list(self._outstanding.values())
            self._outstanding.clear()
        self.queue = self._new_queue(len(self.queue))
        for userdata in failed:
            self._callback(None, userdata, error)

    def set_callback(self, callback: Callback) -> None:
        self._callback = callback

    def infer(self, sample: np.ndarray) -> list[np.ndarray]:
        """Synchronous inference on one reused infer request (SingleStream, calibration).

        A sample of batch 1 given to a model compiled for batches of N is padded, and its
        outputs' first row returned.
        """
        if self._sync_request is None:
            self._sync_request = self.compiled.create_infer_request()
        sample = np.ascontiguousarray(sample)  # OpenVINO misreads other layouts (start_async)
        n = self.batch_size()
        rows = sample.shape[0]
        if rows < n:
            sample = np.concatenate([sample] * n, axis=0)[:n]
        self._sync_request.infer([sample], share_inputs=True)
        return [self._sync_request.get_output_tensor(i).data[:rows].copy()
                for i in range(self._n_outputs)]

    def infer_view(self, sample: np.ndarray) -> list[np.ndarray]:
        """The lean synchronous path (SingleStream): the sample's memory is the input
        tensor (no copy), the request started and waited for without building a result
        dictionary, the outputs are views of the request's output tensors (valid until the
        next inference on it). A sample of fewer rows than the batch takes :meth:`infer`."""
        request = self._sync_request
        if request is None or sample.shape[0] != self.batch_size() or \
                not self._shares(sample):
            return self.infer(sample)  # infer converts, pads, creates the request
        request.set_input_tensor(ov.Tensor(sample, shared_memory=True))
        request.start_async()
        request.wait()
        return [request.get_output_tensor(i).data for i in range(self._n_outputs)]

    def _shares(self, sample: np.ndarray) -> bool:
        """The sample's memory can be the (one) input tensor as it is: the input's type,
        C-contiguous."""
        return (self._input_dtype is not None and sample.dtype == self._input_dtype
                and sample.flags.c_contiguous)

    def batch_size(self) -> int:
        return int(self.config.batch or 1) if self.config else 1

    def start_async(self, sample: np.ndarray, userdata: Any) -> int:
        """Start one batch on a free infer request; returns the ``perf_counter_ns`` at
        which a request was free. Starts from several threads take turns."""
        with self._start_lock:
            with self._lock:
                token = self._next_token
                self._next_token += 1
                self._outstanding[token] = userdata
            try:
                self.queue.get_idle_request_id()  # waits (GIL released) for a free request
                started = time.perf_counter_ns()
                if self._shares(sample):
                    # the sample's memory is the input tensor; the base class's start_async
                    # skips the wrapper's data dispatch (about 35 us a sample, measured)
                    self._start_tensor(ov.Tensor(sample, shared_memory=True), token)
                else:  # the wrapper converts the type and copies into the request's
                    # tensor; OpenVINO reads a non-C-contiguous array's memory as if it were
                    # C-ordered (wrong outputs, seen with 2026.4), so it gets a C copy
                    self.queue.start_async([np.ascontiguousarray(sample)], token,
                                           share_inputs=False)
            except RuntimeError as exc:  # an earlier inference failed (this one never started)
                with self._lock:
                    self._outstanding.pop(token)
                self._answer_failed(exc)  # the queue is fresh: start this sample on it
                return self.start_async(sample, userdata)
            return started

    def wait_all(self) -> None:
        try:
            self.queue.wait_all()
        except RuntimeError as exc:
            self._answer_failed(exc)

    def poll(self) -> None:
        """Answer the samples of failed requests now (never while a request is being
        started: the two take turns)."""
        with self._lock:
            if not self._outstanding:
                return
        with self._start_lock:
            for request in self.queue:
                try:
                    request.wait_for(0)  # raises the error of a failed inference
                except RuntimeError as exc:
                    self._answer_failed(exc)
                    return

    def set_width(self, streams: int, threads: int) -> bool:
        """Recompile the loaded model with ``streams`` streams and ``threads`` threads (the
        harness's default infer requests: twice the streams). :meth:`settings` still says
        what was asked (None: the harness chose; a recorded Server peak belongs to that),
        :meth:`properties` what was compiled."""
        asked = self.config
        self.load_ir(self.model_path, replace(asked, streams=int(streams),
                                              threads=int(threads), nireq=None))
        self.config = asked
        return True

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

    def settings(self) -> dict[str, Any]:
        """Device, precision, effective hint, streams, threads, infer requests and batching
        asked for (streams None: chosen by the hint or the Server deployment rule)."""
        c = self.config
        return {"device": c.device, "precision": c.precision, "hint": c.hint,
                "streams": c.streams, "threads": c.threads, "nireq": c.nireq,
                "batch": c.batch, "batch_timeout_us": c.batch_timeout_us}

    def build_facts(self) -> dict[str, Any] | None:
        """INT8: the quantization record (calibration set, overlap, versions), else None."""
        return self._build

    def model_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"ir": str(self.model_path)}
        if self.model_path is not None:
            size = self.model_path.stat().st_size
            weights_file = self.model_path.with_suffix(".bin")
            if weights_file.is_file():
                size += weights_file.stat().st_size
            info["size_mb"] = round(size / 1e6, 3)
        return info
