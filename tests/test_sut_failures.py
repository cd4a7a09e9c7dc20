"""The SUT answers every sample even when inference fails, so LoadGen never hangs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import ROOT

SCRIPT = textwrap.dedent("""
    import sys
    import mlperf_loadgen as lg
    from harness import cards, postprocess, weights
    from harness.backends.openvino.backend import OpenVINOBackend
    from harness.backends.openvino.config import OpenVINOConfig
    from harness.datasets import SyntheticDataset
    from harness.qsl import QSL
    from harness.sut import SUT

    class FlakyBackend(OpenVINOBackend):
        # real OpenVINO inference, but every third sample fails to start
        def start_async(self, sample, userdata):
            if userdata[1] % 3 == 0:
                raise RuntimeError("injected failure")
            super().start_async(sample, userdata)

    card = cards.load("mobilenet_v2_quant")
    backend = FlakyBackend()
    backend.load(card, weights.standard(card), OpenVINOConfig())
    qsl = QSL(SyntheticDataset(card.input_shape, card.input_dtype, 30), 30)
    sut = SUT(backend, qsl, postprocess.for_card(card), synchronous=False)
    settings = lg.TestSettings()
    settings.scenario = lg.TestScenario.Offline
    settings.mode = lg.TestMode.PerformanceOnly
    settings.offline_expected_qps = 100
    settings.min_duration_ms = 100
    settings.min_query_count = 1
    log = lg.LogSettings()
    log.log_output.outdir = sys.argv[1]
    lg.StartTestWithLogSettings(sut.construct(), qsl.construct(), settings, log)
    sut.destroy()
    qsl.destroy()
    print("answered", sut.completed, "errors", sut.errors)
""")


def test_failed_inferences_are_answered(tmp_path, mobilenet_tflite):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    answered, errors = (int(x) for x in proc.stdout.split()[1::2])
    assert answered > 0
    assert errors > 0 and errors < answered
    summary = (tmp_path / "mlperf_log_summary.txt").read_text()
    assert "Samples per second" in summary
