"""``harness serve MODEL``: a card's OpenVINO model behind a KServe v2 server (REST + gRPC).

The model is built exactly as a local run builds it (same IR cache; FP32 with
``INFERENCE_PRECISION_HINT=f32``, bf16, or NNCF INT8 with the run's calibration options),
compiled with the THROUGHPUT hint unless ``--hint`` says otherwise, and served by the
``kserve`` Python model server (:mod:`harness.backends.kserve.server`) until SIGINT/SIGTERM.
Point ``harness run --backend kserve --endpoint HOST:GRPC_PORT`` at it.
"""

from __future__ import annotations

import socket

from .. import backends, cards
from .. import weights as weights_mod
from ..backends.base import LoadContext
from ..errors import HarnessError
from ..run import config as run_config

HELP = "serve a card's OpenVINO model over the KServe v2 protocol (REST and gRPC)"

#: Run options that mean nothing to a server.
_NOT_SERVED = ("--model", "--backend", "--scenario", "--target-qps", "--user-conf", "--mode",
               "--allow-random-accuracy", "--reference-run", "--execution", "--duration-ms",
               "--results-dir", "--system", "--audit-config", "--launcher", "--cores",
               "--endpoint", "--protocol", "--model-name", "--concurrency",
               "--network-division", "--timeout-s", "--count")


def add_arguments(p) -> None:
    p.add_argument("model", help="model card name (see 'harness models')")
    run_config.add_arguments(p, exclude=_NOT_SERVED)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; 0.0.0.0: every interface)")
    p.add_argument("--http-port", type=int, default=8080, help="REST port (default 8080)")
    p.add_argument("--grpc-port", type=int, default=8081, help="gRPC port (default 8081)")
    p.add_argument("--served-name", default=None,
                   help="the model's name on the server (default: the card's name)")


def _check_port(host: str, port: int, flag: str) -> None:
    if not 0 < port < 65536:
        raise HarnessError(f"{flag}: {port} is not a port number")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            raise HarnessError(f"{flag} {port}: cannot listen on {host}:{port} "
                               f"({exc.strerror}); choose a free port") from None


def main(args) -> int:
    given = run_config.given(args, exclude=_NOT_SERVED)
    cfg = run_config.from_arguments({**given, "--model": args.model})
    if args.http_port == args.grpc_port:
        raise HarnessError("--http-port and --grpc-port must differ")
    _check_port(args.host, args.http_port, "--http-port")
    _check_port(args.host, args.grpc_port, "--grpc-port")
    card = cards.load(cfg.model.name)
    weights = weights_mod.resolve(card, cfg.model.weights, "performance")
    if not weights.trained:
        print(f"NOTE: {weights.note}", flush=True)
    backend = backends.create(cfg.backend.name)  # the default, OpenVINO: --backend is not served
    backend.load(card, weights, cfg.backend,
                 LoadContext(default_hint="THROUGHPUT", dataset=cfg.data.dataset))
    # imported here, not at the top: the kserve package and tritonclient (the kserve client
    # backend) each register the protobuf package "inference"; one process holds one of them
    from ..backends.kserve.server import LoopbackModelServer, OpenVINOModel

    name = args.served_name or card.name
    model = OpenVINOModel(name, backend.compiled, backend.parallelism(),
                          platform=f"openvino_{cfg.precision}")
    print(f"serving {card.name} ({cfg.precision}, {backend.model_path}) as model '{name}': "
          f"gRPC {args.host}:{args.grpc_port}, REST {args.host}:{args.http_port}", flush=True)
    LoopbackModelServer(args.host, args.http_port, args.grpc_port).start([model])
    return 0
