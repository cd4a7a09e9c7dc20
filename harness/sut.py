"""The LoadGen system under test (SUT) over a :class:`harness.backends.Backend`.

- Offline (and Server with batching): ``issue_queries`` only enqueues; one dispatcher
  thread feeds the backend's asynchronous infer requests, so LoadGen's issuing thread never
  blocks on inference (Offline's one big query is spread over all requests). Completion
  callbacks answer LoadGen.
- Server without batching (``direct``): ``issue_queries`` starts each sample on a free
  infer request itself, in arrival order, as a plain LoadGen SUT does: no thread hop (the
  hop cost about 0.05 ms of p50 and made the queue's p99 spiky on a busy 2-core machine);
  when every request is busy, LoadGen's thread waits for one. The dispatcher thread only
  polls for failed inferences.
- SingleStream and MultiStream: answered in ``issue_queries`` before it returns (LoadGen
  sends the next query only after completion), with no thread hop. SingleStream's one sample
  is inferred synchronously on one infer request (LATENCY hint) through the backend's lean
  path (:meth:`harness.backends.Backend.infer_view`: no copies of inputs or outputs);
  MultiStream's samples are started on the asynchronous requests from LoadGen's thread and
  the call waits for them.
- Batching (``--batch N``, a backend compiled for batches of N): the dispatcher groups up to
  N queued samples into one request, pads a partial group with copies of its last sample,
  answers each sample from its row of the outputs and never answers the padding. Full
  groups start at once. A partial group starts when nothing more has been issued, or, with
  a batching window of T microseconds (Server's ``--batch-timeout-us``; Triton's
  ``max_queue_delay_microseconds``), once T has passed since its first sample was issued or
  it has filled, whichever comes first: a lone query is never held longer than T.
  SingleStream and the network division's LoadGen node do not batch (MLPerf rules;
  :class:`harness.run.config.RunConfig` refuses it).

Each sample's way through the SUT is timed (:mod:`harness.telemetry`): issue, start and end
of inference, ``QuerySamplesComplete``; :attr:`SUT.telemetry` holds it for the run's report.

Every sample is answered, also when inference fails: the failure is counted and an empty
response is sent, so the run never hangs (LoadGen waits for every issued sample).
"""

from __future__ import annotations

import queue
import threading
import time
from array import array
from typing import Any, Callable

import mlperf_loadgen as lg
import numpy as np

from .backends import Backend
from .backends.base import POLL_SECONDS
from .qsl import QSL
from .telemetry import Telemetry, now_ns

#: ``postprocess(outputs, qsl_index) -> np.ndarray``: the response payload of one sample.
PostProcess = Callable[[list[np.ndarray], int], np.ndarray]


class SUT:
    """Answers LoadGen queries with a backend.

    Args:
        backend: a loaded backend.
        qsl: the QSL whose loaded samples the queries name.
        postprocess: turns model outputs into the response payload.
        synchronous: answer in ``issue_queries`` (SingleStream, MultiStream) instead of
            dispatching.
        batch_size: samples per request (the backend's batch; 1: no batching).
        batch_timeout_us: the batching window (µs): how long a partial batch may wait for
            more samples after its first was issued (0: it never waits).
        direct: without batching, start each sample on LoadGen's thread in
            ``issue_queries`` (Server: no dispatcher hop; the wait for a free request is
            the queue); the dispatcher thread then only polls for failed inferences.

    Attributes:
        errors: number of samples whose inference or post-processing failed.
        first_error: text of the first failure.
        completed: number of samples answered.
        telemetry: the samples' timestamps (:class:`harness.telemetry.Telemetry`).
    """

    def __init__(self, backend: Backend, qsl: QSL, postprocess: PostProcess,
                 synchronous: bool = False, batch_size: int = 1, batch_timeout_us: int = 0,
                 direct: bool = False):
        self.backend = backend
        self.qsl = qsl
        self.postprocess = postprocess
        self.synchronous = synchronous
        self.batch_size = int(batch_size)
        self.batch_timeout_us = int(batch_timeout_us or 0)
        # per started request: its samples, and ms from its first sample's issue to its start
        self._sizes = array("H")
        self._waits_ms = array("f")
        self.direct = direct and self.batch_size == 1 and not synchronous
        self.errors = 0
        self.first_error: str | None = None
        self.completed = 0
        self._lock = threading.Lock()
        self._pending: queue.SimpleQueue = queue.SimpleQueue()
        self._dispatcher: threading.Thread | None = None
        self._network = False
        self._abandoned = False
        self.handle = None
        self.telemetry = Telemetry()
        self._lean = False  # SingleStream's path answered a query (one request busy)
        backend.set_callback(self._on_done)

    # --- LoadGen callbacks -------------------------------------------------------------
    def issue_queries(self, query_samples: list) -> None:
        """LoadGen callback: answer (SingleStream, MultiStream) or enqueue (Offline, Server)
        samples."""
        t = now_ns()
        if self._abandoned:
            return
        if self.synchronous and len(query_samples) == 1 and self.batch_size == 1:
            self._answer_now(query_samples[0], t)
            return
        work = [(qs.id, qs.index) for qs in query_samples]
        self.telemetry.issued([sample_id for sample_id, _ in work], t)
        if self.synchronous:  # MultiStream: spread over the requests, answered on return
            for start in range(0, len(work), self.batch_size):
                self._start(work[start:start + self.batch_size])
            self.backend.wait_all()
            return
        if self.direct:  # Server without batching: no thread hop
            for item in work:
                self._start([item])
            return
        self._pending.put((time.monotonic(), work))

    def _answer_now(self, qs, t_issue: int) -> None:
        """SingleStream's lean path: one synchronous inference, outputs read in place."""
        sample_id, index = qs.id, qs.index
        telemetry = self.telemetry
        self._lean = True
        slot = telemetry.issued((sample_id,), t_issue)
        try:
            t = now_ns()
            outputs = self.backend.infer_view(self.qsl.get(index))
            telemetry.started((slot,), t)
            telemetry.done((slot,))
        except BaseException as exc:  # answer the sample whatever happens
            self._respond(sample_id, index, None, exc)
        else:
            self._respond(sample_id, index, outputs, None)

    def flush_queries(self) -> None:
        """LoadGen callback: nothing to flush (a partial batch waits at most its window)."""

    # --- dispatch and completion -------------------------------------------------------
    def _dispatch(self) -> None:
        """Start queued samples in groups of the batch size (see the module docstring):
        full groups at once, a partial group when its window has closed or nothing more
        has been issued. Queue items are ``(issue time, [(sample id, QSL index)])``."""
        window = self.batch_timeout_us / 1e6
        group: list[tuple[int, int]] = []  # samples not started yet (a partial batch)
        issued: list[float] = []           # each one's issue time (time.monotonic)
        while True:
            timeout = issued[0] + window - time.monotonic() if group else POLL_SECONDS
            try:
                item = (self._pending.get(timeout=timeout) if timeout > 0
                        else self._pending.get_nowait())
            except queue.Empty:
                if group:  # the window has closed (or was 0): start the partial batch
                    self._start_groups(group, issued)
                    group, issued = [], []
                elif not self._abandoned:
                    self.backend.poll()
                continue
            if item is None:
                if group:
                    self._start_groups(group, issued)
                return
            group += item[1]
            issued += [item[0]] * len(item[1])
            full = len(group) - len(group) % self.batch_size
            if full:
                self._start_groups(group[:full], issued[:full])
                group, issued = group[full:], issued[full:]

    def _start_groups(self, samples: list[tuple[int, int]], issued: list[float]) -> None:
        """Start ``samples`` in requests of the batch size (the last may be partial),
        recording each request's size and its first sample's wait since ``issued``."""
        for start in range(0, len(samples), self.batch_size):
            if self._abandoned:
                return
            group = samples[start:start + self.batch_size]
            self._sizes.append(len(group))
            self._waits_ms.append((time.monotonic() - issued[start]) * 1e3)
            self._start(group)

    def batching(self) -> dict[str, Any]:
        """What the dispatcher did, for the run report (call after :meth:`destroy`).

        Returns:
            ``{"batch_size", "batch_timeout_us", "requests", "full_requests",
            "samples_per_request" (mean), "wait_ms": {"p50", "p99", "max"}}``: the wait is
            from a request's first sample's issue by LoadGen to the request's start (the
            window's delay plus the dispatcher's own), ms; {} for a synchronous SUT;
            ``{"batch_size": 1, "path": "direct"}`` where samples start on LoadGen's thread.
        """
        if self.synchronous:
            return {}
        if self.direct:
            return {"batch_size": 1, "batch_timeout_us": 0, "path": "direct"}
        sizes = np.frombuffer(self._sizes, dtype=np.uint16).astype(np.float64)
        waits = np.frombuffer(self._waits_ms, dtype=np.float32).astype(np.float64)
        out: dict[str, Any] = {"batch_size": self.batch_size,
                               "batch_timeout_us": self.batch_timeout_us,
                               "requests": int(sizes.size),
                               "full_requests": int((sizes == self.batch_size).sum())}
        if sizes.size:
            out["samples_per_request"] = round(float(sizes.mean()), 3)
            out["wait_ms"] = {"p50": round(float(np.percentile(waits, 50)), 3),
                              "p99": round(float(np.percentile(waits, 99)), 3),
                              "max": round(float(waits.max()), 3)}
        return out

    def _start(self, group: list[tuple[int, int]]) -> None:
        """Start one request for ``group`` (``[(sample id, QSL index)]``)."""
        slots = self.telemetry.slots(sample_id for sample_id, _ in group)
        t = now_ns()
        try:
            if self.batch_size == 1:
                sample_id, index = group[0]
                started = self.backend.start_async(self.qsl.get(index), (sample_id, index))
            else:
                batch = pad_batch([self.qsl.get(i) for _, i in group], self.batch_size)
                # the backend reads the array in place until the request completes: the
                # userdata keeps it alive until then
                started = self.backend.start_async(batch, _Batch(group, batch))
        except BaseException as exc:
            for sample_id, index in group:
                self._respond(sample_id, index, None, exc)
            return
        self.telemetry.started(slots, started or t)

    def _on_done(self, outputs, userdata, error) -> None:
        if isinstance(userdata, _Batch):  # row k answers sample k; padding rows answer none
            self.telemetry.done(self.telemetry.slots(s for s, _ in userdata.samples))
            for row, (sample_id, index) in enumerate(userdata.samples):
                rows = None if outputs is None else [o[row:row + 1] for o in outputs]
                self._respond(sample_id, index, rows, error)
            return
        sample_id, index = userdata
        self.telemetry.done_sample(sample_id)
        self._respond(sample_id, index, outputs, error)

    def _respond(self, sample_id: int, index: int, outputs, error) -> None:
        payload = None
        if error is None:
            try:
                payload = np.ascontiguousarray(self.postprocess(outputs, index))
            except BaseException as exc:
                error = exc
        if error is not None:
            with self._lock:
                self.errors += 1
                if self.first_error is None:
                    self.first_error = f"{error.__class__.__name__}: {error}"
            response = lg.QuerySampleResponse(sample_id, 0, 0)
        else:
            ptr, _ = payload.__array_interface__["data"]
            response = lg.QuerySampleResponse(sample_id, ptr, payload.nbytes)
        # payload stays alive until QuerySamplesComplete has copied it (LoadGen API contract)
        lg.QuerySamplesComplete([response])
        self.telemetry.answered(sample_id)
        with self._lock:
            self.completed += 1

    def telemetry_summary(self) -> dict:
        """:meth:`harness.telemetry.Telemetry.summary` of the test (utilisation over one
        request on the synchronous path, else over the backend's infer requests)."""
        return self.telemetry.summary(1 if self._lean else self.backend.parallelism())

    # --- lifecycle ---------------------------------------------------------------------
    def construct(self, network_name: str | None = None):
        """Start the dispatcher and create the LoadGen handle.

        Args:
            network_name: LoadGen over the network (MLPerf network division): construct a
                Query Dispatch Library (``lg.ConstructQDL``) that reports this SUT name
                instead of a local SUT. The QDL forwards each query as it is issued; nothing
                is batched, cached or padded (LoadGen README, "LoadGen over the Network").
        """
        if not self.synchronous:
            self._dispatcher = threading.Thread(target=self._dispatch, name="sut-dispatch",
                                                daemon=True)
            self._dispatcher.start()
        if network_name is not None:
            self._network = True
            self.handle = lg.ConstructQDL(self.issue_queries, self.flush_queries,
                                          lambda: network_name)
        else:
            self._network = False
            self.handle = lg.ConstructSUT(self.issue_queries, self.flush_queries)
        return self.handle

    def abandon(self) -> None:
        """Start no more inferences and wait for nothing: the run was interrupted and its
        process ends once the report says so (LoadGen's thread ends with it)."""
        self._abandoned = True

    def destroy(self) -> None:
        """Stop the dispatcher, wait for in-flight inferences, destroy the handle."""
        if self._dispatcher is not None:
            self._pending.put(None)
            self._dispatcher.join()
            self._dispatcher = None
        self.backend.wait_all()
        if self.handle is not None:
            (lg.DestroyQDL if self._network else lg.DestroySUT)(self.handle)
            self.handle = None


class _Batch:
    """One batched request in flight: its samples ``[(sample id, QSL index)]`` and the
    stacked input array (kept alive while the backend reads it)."""

    __slots__ = ("samples", "data")

    def __init__(self, samples: list[tuple[int, int]], data: np.ndarray):
        self.samples = samples
        self.data = data


def pad_batch(samples: list[np.ndarray], size: int) -> np.ndarray:
    """Stack samples (each with a batch dimension of 1) into one batch of ``size``, padding
    with copies of the last sample.

    Raises:
        ValueError: more samples than ``size``.
    """
    if len(samples) > size:
        raise ValueError(f"{len(samples)} samples do not fit a batch of {size}")
    return np.concatenate(samples + [samples[-1]] * (size - len(samples)), axis=0)
