"""Both ends of the KServe v2 / Open Inference Protocol.

- :mod:`.config` and :mod:`.backend`: the client backend (``--backend kserve``): the SUT is a
  remote inference server (OpenVINO Model Server, Triton, KServe, Seldon MLServer), spoken to
  with ``tritonclient`` over gRPC (default) or HTTP with binary tensors.
- :mod:`.server`: ``harness serve``: a card's OpenVINO model behind the ``kserve`` Python
  model server, for tests and for users without a server.

Never import :mod:`.backend` and :mod:`.server` in one process: ``tritonclient`` and
``kserve`` each register the protocol's protobuf package ``inference`` and the second
import fails with "duplicate symbol 'inference.ServerLiveRequest'".
"""
