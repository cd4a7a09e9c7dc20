"""The PyTorch backend's options: eager FP32, threads and worker count."""

from __future__ import annotations

from dataclasses import dataclass

from ...options import check, option
from ..config import BackendConfig


@dataclass
class PyTorchConfig(BackendConfig):
    """Vanilla PyTorch: the card's network in eager FP32 (the baseline of published results).

    Attributes:
        name: ``pytorch``.
        precision: ``fp32`` only.
        threads: ``torch.set_num_threads`` (None: the physical core count).
        nireq: worker threads answering asynchronous queries (None: 1).
    """

    name: str = option("pytorch", flag="--backend", help="inference backend")
    precision: str = option("fp32", help="fp32, bf16 or int8")
    threads: int | None = option(None, help="inference threads (>= 1)")
    nireq: int | None = option(None, help="infer requests in flight (>= 1)")

    def __post_init__(self) -> None:
        check(self.name == "pytorch", "--backend", f"'{self.name}' is not pytorch")
        check(self.precision == "fp32", "--precision",
              f"BACKEND=pytorch runs eager FP32 only (the vanilla baseline); precision "
              f"'{self.precision}' needs BACKEND=openvino")
        for flag, value in (("--threads", self.threads), ("--nireq", self.nireq)):
            check(value is None or value >= 1, flag, f"{value} must be at least 1")
