"""The OpenVINO backend's asynchronous start paths give the synchronous inference's
outputs (also for an array that is not C-contiguous, which OpenVINO's own data dispatch
misreads), and its completion callbacks keep one Python thread state per OpenVINO thread.

Real OpenVINO on the trained MobileNetV2 (uint8 TFLite) of ../shared; holds on every CPU
kind (each comparison is of one compiled model with itself).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from harness import cards, weights
from harness.backends.openvino import backend as backend_mod
from harness.backends.openvino.config import OpenVINOConfig
from harness.datasets import SyntheticDataset


@pytest.fixture(scope="module")
def loaded(mobilenet_tflite):
    card = cards.load("mobilenet_v2_quant")
    backend = backend_mod.OpenVINOBackend()
    backend.load(card, weights.standard(card), OpenVINOConfig())
    data = SyntheticDataset(card.input_shape, card.input_dtype, 12)
    return backend, [data.load_sample(i) for i in range(len(data))]


def _run_async(backend, samples) -> tuple[dict[int, np.ndarray], set[int]]:
    """Start every sample; returns each one's first output (copied in the callback) and the
    idents of the threads that called back."""
    outputs: dict[int, np.ndarray] = {}
    threads: set[int] = set()

    def callback(outs, userdata, error):
        assert error is None, error
        outputs[userdata] = outs[0].copy()
        threads.add(threading.get_ident())

    backend.set_callback(callback)
    for i, sample in enumerate(samples):
        backend.start_async(sample, i)
    backend.wait_all()
    return outputs, threads


def test_both_start_paths_give_the_synchronous_outputs(loaded):
    backend, samples = loaded
    expected = [backend.infer(s)[0].astype(np.int32) for s in samples]
    # C-contiguous samples of the input type: the tensor path (no data dispatch);
    # a Fortran-ordered copy is not C-contiguous: the wrapper's path (it copies)
    fortran = [np.asfortranarray(s) for s in samples]
    assert samples[0].flags.c_contiguous and not fortran[0].flags.c_contiguous
    tensor_path, _ = _run_async(backend, samples)
    wrapper_path, _ = _run_async(backend, fortran)
    assert sorted(tensor_path) == sorted(wrapper_path) == list(range(len(samples)))
    # an inference's uint8 scores may differ by one quantization step between requests
    # and threads (another split of the work); another sample's differ by far more
    for i, want in enumerate(expected):
        for got in (tensor_path[i], wrapper_path[i]):
            assert np.abs(got.astype(np.int32) - want).max() <= 1
        other = expected[(i + 1) % len(expected)]
        assert np.abs(tensor_path[i].astype(np.int32) - other).max() > 1


def test_callback_threads_keep_their_python_thread_state(loaded):
    backend, samples = loaded
    _, first = _run_async(backend, samples)
    assert first and first <= backend_mod._KEPT_THREAD_STATES
    kept = set(backend_mod._KEPT_THREAD_STATES)
    _, again = _run_async(backend, samples * 4)
    # the same OpenVINO threads call back; a state is kept once per thread, not per call
    assert again <= backend_mod._KEPT_THREAD_STATES
    assert len(backend_mod._KEPT_THREAD_STATES) <= len(kept | again)
