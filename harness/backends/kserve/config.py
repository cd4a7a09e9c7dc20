"""The KServe v2 client backend's options (``--backend kserve``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ...options import check, option
from ..config import BackendConfig

PROTOCOLS = ("grpc", "http")
PRECISIONS = ("fp32", "bf16", "int8")


@dataclass
class KServeConfig(BackendConfig):
    """A remote inference server speaking the KServe v2 / Open Inference Protocol.

    Attributes:
        name: ``kserve``.
        endpoint: ``HOST:PORT`` of the server (its gRPC port, or HTTP port with
            ``protocol = http``).
        protocol: ``grpc`` (default) or ``http`` (binary tensor extension; JSON tensors are
            never used: they cost 30-130 ms per 1x3x224x224 request).
        model_name: the server's model name (None: the card's name).
        concurrency: requests in flight (None: 4).
        precision: what the server runs (recorded in the results folder and report; the
            server decides, the harness cannot check it).
        network_division: LoadGen over the network: a Query Dispatch Library (LoadGen's
            ``ConstructQDL``) stands where the SUT is; it forwards each query as it comes (no
            batching, caching or padding) and reports the SUT's name (MLPerf network
            division; LoadGen README "LoadGen over the Network").
        timeout_s: a request that takes longer fails (so LoadGen never waits forever).
    """

    #: The model lives on the server: no local weights or IR are needed.
    remote: ClassVar[bool] = True

    name: str = option("kserve", flag="--backend", help="inference backend")
    endpoint: str | None = option(None, help="HOST:PORT of a KServe v2 inference server")
    protocol: str = option("grpc", help="grpc (default) or http (binary tensors)")
    model_name: str | None = option(None, help="the server's model name (default: the "
                                               "card's name)")
    concurrency: int | None = option(None, help="requests in flight (>= 1; default 4)")
    precision: str = option("fp32", help="fp32, bf16 or int8")
    network_division: bool = option(
        False, help="MLPerf network division: LoadGen's Query Dispatch Library forwards each "
                    "query to the server (no batching) and reports the SUT's name")
    timeout_s: float = option(60.0, help="seconds before a request to the server fails")

    def __post_init__(self) -> None:
        check(self.name == "kserve", "--backend", f"'{self.name}' is not kserve")
        check(bool(self.endpoint), "--endpoint",
              "--backend kserve needs the server's address: --endpoint HOST:PORT (start one "
              "with 'harness serve MODEL --grpc-port PORT')")
        host, _, port = str(self.endpoint).rpartition(":")
        check(bool(host) and port.isdigit() and 0 < int(port) < 65536, "--endpoint",
              f"'{self.endpoint}' is not HOST:PORT (e.g. 127.0.0.1:8081)")
        check(self.protocol in PROTOCOLS, "--protocol",
              f"unknown protocol '{self.protocol}'; valid: {', '.join(PROTOCOLS)}")
        check(self.precision in PRECISIONS, "--precision",
              f"unknown precision '{self.precision}'; valid: {', '.join(PRECISIONS)}")
        check(self.concurrency is None or self.concurrency >= 1, "--concurrency",
              f"{self.concurrency} must be at least 1")
        check(self.timeout_s > 0, "--timeout-s", f"{self.timeout_s} must be positive")
