"""Where the time of a run goes inside the SUT: per-sample timestamps, summarised after it.

For every sample LoadGen issues, the SUT stamps four moments with ``time.perf_counter_ns``:

- ``issue``: LoadGen's ``issue_queries`` callback is entered;
- ``start``: its inference starts (a free infer request took it);
- ``done``: the inference finished (the backend's completion, before post-processing);
- ``answered``: ``QuerySamplesComplete`` has returned.

Stages: ``queue`` = start - issue (waiting in the SUT: dispatcher, a free request),
``inference`` = done - start, ``response`` = answered - done (post-processing, building the
response, ``QuerySamplesComplete``). Their sum is the SUT's part of LoadGen's latency; the
rest is LoadGen's own (scheduling, its callback into Python). ``utilisation`` is the share
of the wall time (first issue to last answer) that the infer requests were busy: the sum of
the requests' inference times over requests x wall time. Near 1: the hardware was the limit;
well below 1 in a run that needed more: the harness or LoadGen was.

Cheap on the hot path: timestamps go into preallocated int64 blocks (numpy) by slot; a slot
is handed out by the issuing thread only, so no lock is taken. A sample id maps to its slot
while it is in flight (one dict entry). Nothing is computed until :meth:`Telemetry.summary`.
"""

from __future__ import annotations

import time
from typing import Any, Iterable

import numpy as np

#: Rows per preallocated block of timestamps.
BLOCK = 1 << 14
#: Columns of a block: the four moments (ns) and the number of samples sharing the request.
ISSUE, START, DONE, ANSWERED, SHARE = range(5)
#: Stages summarised, in order: name -> (from column, to column).
STAGES = {"queue": (ISSUE, START), "inference": (START, DONE), "response": (DONE, ANSWERED),
          "sut_latency": (ISSUE, ANSWERED)}

now_ns = time.perf_counter_ns


class Telemetry:
    """Timestamps of one LoadGen test's samples.

    Thread use: :meth:`issued` from LoadGen's issuing thread only (it hands out slots);
    :meth:`slots`, :meth:`started`, :meth:`done`, :meth:`answered` from any thread, for
    samples issued and not yet answered (:meth:`started` and :meth:`done` take slots, so
    they may come in either order).
    """

    def __init__(self) -> None:
        self._blocks: list[np.ndarray] = []
        self._n = 0
        self._slot: dict[int, int] = {}

    def _row(self, slot: int) -> np.ndarray:
        return self._blocks[slot // BLOCK][slot % BLOCK]

    def issued(self, sample_ids: Iterable[int], t: int | None = None) -> int:
        """Stamp the issue of ``sample_ids`` (one query) at ``t`` (ns, default now);
        returns the first slot (the query's samples get consecutive slots)."""
        t = now_ns() if t is None else t
        first = n = self._n
        slots = self._slot
        for sid in sample_ids:
            if n % BLOCK == 0 and n // BLOCK == len(self._blocks):
                self._blocks.append(np.zeros((BLOCK, 5), dtype=np.int64))
            self._blocks[n // BLOCK][n % BLOCK, ISSUE] = t
            slots[sid] = n
            n += 1
        self._n = n
        return first

    def slots(self, sample_ids: Iterable[int]) -> list[int]:
        """The slots of samples in flight (look them up before starting their inference:
        a sample answered is no longer in flight). A sample not in flight has none (timing
        never stops a sample from being answered)."""
        get = self._slot.get
        return [s for s in map(get, sample_ids) if s is not None]

    def started(self, slots: list[int], t: int) -> None:
        """Stamp the start, at ``t`` (ns), of one request holding the samples of ``slots``."""
        for s in slots:
            row = self._row(s)
            row[START] = t
            row[SHARE] = len(slots)

    def done(self, slots: list[int], t: int | None = None) -> None:
        """Stamp the end of the inference of one request holding the samples of ``slots``."""
        t = now_ns() if t is None else t
        for s in slots:
            self._row(s)[DONE] = t

    def done_sample(self, sample_id: int) -> None:
        """:meth:`done` of one sample in flight, by its id (the completion callback of an
        unbatched request: one dict look-up, no lists)."""
        slot = self._slot.get(sample_id)
        if slot is not None:
            self._blocks[slot // BLOCK][slot % BLOCK, DONE] = now_ns()

    def answered(self, sample_id: int, t: int | None = None) -> None:
        """Stamp ``sample_id``'s ``QuerySamplesComplete`` having returned; it is no longer
        in flight."""
        slot = self._slot.pop(sample_id, None)
        if slot is not None:
            self._row(slot)[ANSWERED] = now_ns() if t is None else t

    def rows(self) -> np.ndarray:
        """Every issued sample's row, shape ``(samples, 5)`` int64 (ns; 0: not stamped)."""
        if not self._n:
            return np.zeros((0, 5), dtype=np.int64)
        return np.concatenate(self._blocks)[:self._n]

    def summary(self, requests: int) -> dict[str, Any]:
        """The run's telemetry for the report (``run.json``'s ``telemetry``).

        Args:
            requests: infer requests that could be busy at once (1: synchronous inference
                on one request); the denominator of ``utilisation``.

        Returns:
            ``{"samples": answered samples with all four stamps, "issued": samples issued,
            "requests", "wall_ms", "busy_ms", "utilisation" (0..1, None without samples),
            and per stage in :data:`STAGES` {"mean_ms", "p50_ms", "p99_ms", "max_ms"}}``.
            Samples that failed (no start or no end) are counted in ``issued`` only.
        """
        rows = self.rows()
        ok = rows[(rows[:, ISSUE] > 0) & (rows[:, START] > 0) & (rows[:, DONE] > 0)
                  & (rows[:, ANSWERED] > 0)]
        requests = max(1, int(requests))
        out: dict[str, Any] = {"samples": int(len(ok)), "issued": int(len(rows)),
                               "requests": requests}
        if not len(ok):
            return {**out, "wall_ms": None, "busy_ms": None, "utilisation": None}
        wall = int(ok[:, ANSWERED].max() - ok[:, ISSUE].min())
        busy = float(((ok[:, DONE] - ok[:, START]) / ok[:, SHARE]).sum())
        out["wall_ms"] = round(wall / 1e6, 3)
        out["busy_ms"] = round(busy / 1e6, 3)
        out["utilisation"] = round(min(1.0, busy / (requests * wall)), 4) if wall else None
        for name, (a, b) in STAGES.items():
            d = (ok[:, b] - ok[:, a]) / 1e6
            out[name] = {"mean_ms": round(float(d.mean()), 4),
                         "p50_ms": round(float(np.percentile(d, 50)), 4),
                         "p99_ms": round(float(np.percentile(d, 99)), 4),
                         "max_ms": round(float(d.max()), 4)}
        return out


def describe(summary: dict[str, Any] | None) -> str:
    """A run's telemetry in a few words, e.g. ``queue 0.01 + infer 2.05 + resp 0.04 ms
    (p50), busy 91%``; empty without telemetry."""
    if not summary or not summary.get("samples"):
        return ""
    parts = " + ".join(f"{label} {summary[name]['p50_ms']:.2f}"
                       for label, name in (("queue", "queue"), ("infer", "inference"),
                                           ("resp", "response")))
    util = summary.get("utilisation")
    return f"{parts} ms (p50)" + (f", busy {util:.0%}" if util is not None else "")
