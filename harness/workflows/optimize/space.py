"""The search space of ``harness optimize``: its dimensions (asked of the backend,
:meth:`BackendConfig.search_space`), the default hint's point, the points not run, and the
narrowing given on the command line."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ... import cards
from ...backends.config import BackendConfig
from ...backends.openvino.config import AUTO, NIREQ_PER_STREAM
from ...errors import HarnessError

PRECISIONS = ("fp32", "bf16", "int8", "int8-ac")
#: OpenVINO's default THROUGHPUT hint at batch 1 as a point of the space (``auto`` streams
#: stand with the harness's default requests per stream).
DEFAULT_POINT = {"streams": AUTO, "threads": AUTO, "nireq_per_stream": NIREQ_PER_STREAM,
                 "hint": "THROUGHPUT", "batch": 1, "batch_timeout_us": 0}
#: Command-line flag (argparse's name) -> the dimension it narrows.
NARROWING_FLAGS = (("precisions", "precision"), ("streams", "streams"),
                   ("threads", "threads"), ("nireq_per_stream", "nireq_per_stream"),
                   ("hints", "hint"), ("batches", "batch"),
                   ("batch_timeouts_us", "batch_timeout_us"))


@dataclass
class Space:
    """The values each dimension may take (every one categorical).

    ``streams`` and ``threads`` hold integers and may hold :data:`AUTO` (OpenVINO decides).
    ``threads`` is the total (``INFERENCE_NUM_THREADS``), shared among the streams.
    """

    model: list[str]
    precision: list[str]
    streams: list[int | str]
    threads: list[int | str]
    nireq_per_stream: list[int]
    hint: list[str]
    batch: list[int]
    batch_timeout_us: list[int] = field(default_factory=lambda: [0])

    def as_dict(self) -> dict[str, list]:
        return asdict(self)

    def size(self) -> int:
        n = 1
        for values in asdict(self).values():
            n *= len(values)
        return n


def family_check(models: list[str]) -> None:
    """Models searched together must be one family: the same LoadGen benchmark and the same
    reference model (a card's ``reference_model``, else the card itself), e.g. resnet50 and
    its BootstrapNAS subnetworks bnas_a/b/c.

    Raises:
        HarnessError: unknown cards, or models of different families (named).
    """
    fam = {}
    for name in models:
        card = cards.load(name)
        fam[name] = (card.benchmark, card.extra.get("reference_model") or name)
    if len(set(fam.values())) > 1:
        raise HarnessError(f"--models {' '.join(models)}: not one family ((benchmark, "
                           f"reference model) = {fam}); search one family at a time")


def default_space(backend: BackendConfig, models: list[str], scenario: str, trained: bool,
                  dataset: str | None, cores: int) -> Space:
    """The full space for this machine: the backend's (:meth:`BackendConfig.search_space`:
    OpenVINO's precisions, streams and threads ``auto`` or 1..cores, ...), and ``int8-ac``
    where accuracy is measured (trained weights and a dataset)."""
    dims = backend.search_space(scenario, cores)
    if trained and dataset:
        dims["precision"].append("int8-ac")
    return Space(model=list(models), **dims)


def default_params(space: Space, model: str, precision: str) -> dict[str, Any]:
    """The point of ``space`` nearest :data:`DEFAULT_POINT` for ``model`` at ``precision``:
    each value of the default, or the dimension's first where ``space`` was narrowed to
    exclude it."""
    dims = space.as_dict()
    return {"model": model, "precision": precision,
            **{k: v if v in dims[k] else dims[k][0] for k, v in DEFAULT_POINT.items()}}


def invalid_point(space: Space, params: dict[str, Any], unbatchable: list[str]) -> str | None:
    """Why ``params`` is not run (skipped at once, not counted), or None.

    - more explicit streams than explicit threads (a stream needs a thread);
    - ``auto`` streams with a requests-per-stream value other than the one that stands for
      the harness's default: those points would repeat the same run;
    - batch > 1 of a model in ``unbatchable`` (an earlier trial's batch failed);
    - a batching window without batches (batch 1).
    """
    streams, threads = params["streams"], params["threads"]
    if AUTO not in (streams, threads) and streams > threads:
        return "more streams than threads"
    if streams == AUTO and params["nireq_per_stream"] != default_params(
            space, params["model"], params["precision"])["nireq_per_stream"]:
        return "auto streams: infer requests are the harness's default (same run)"
    if params["batch"] > 1 and params["model"] in unbatchable:
        return "the model fixes its batch size inside (an earlier trial's batch failed)"
    if params.get("batch_timeout_us") and params["batch"] == 1:
        return "a batching window needs batch > 1"
    return None


def _ints(flag: str, values: list[str], auto: bool = False, minimum: int = 1
          ) -> list[int | str]:
    """``values`` as integers of at least ``minimum`` (and ``auto`` where allowed).

    Raises:
        HarnessError: a value that is not such an integer (or ``auto``), named.
    """
    out: list[int | str] = []
    for v in values:
        if auto and v.lower() == AUTO:
            out.append(AUTO)
        elif v.isdigit() and int(v) >= minimum:
            out.append(int(v))
        else:
            raise HarnessError(f"{flag}: '{v}' is not "
                               + ("a positive integer" if minimum == 1 else
                                  f"an integer >= {minimum}") + (" or auto" if auto else ""))
    return out


def narrow(space: Space, args, scenario: str) -> None:
    """Narrow ``space`` in place to the values given on the command line (``--precisions``,
    ``--streams``, ... : :data:`NARROWING_FLAGS`) and check them against the scenario.

    Raises:
        HarnessError: a value that is not valid for its dimension or the scenario (named).
    """
    for dim, attr in NARROWING_FLAGS:
        given = getattr(args, dim)
        if given:
            setattr(space, attr, _ints(f"--{dim.replace('_', '-')}", given,
                                       auto=attr in ("streams", "threads"),
                                       minimum=0 if attr == "batch_timeout_us" else 1)
                    if attr not in ("precision", "hint") else
                    [g.upper() if attr == "hint" else g for g in given])
    bad = [p for p in space.precision if p not in PRECISIONS]
    if bad:
        raise HarnessError(f"--precisions: unknown {', '.join(bad)}; valid: "
                           f"{', '.join(PRECISIONS)}")
    if scenario == "SingleStream" and any(b > 1 for b in space.batch):
        raise HarnessError("--batches: SingleStream does not batch (one sample per query)")
    if scenario != "Server" and any(space.batch_timeout_us):
        raise HarnessError("--batch-timeouts-us: only Server waits for a batch to fill "
                           "(other scenarios issue a query's samples together)")
