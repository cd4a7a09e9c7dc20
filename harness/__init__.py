"""MLPerf-style inference benchmark harness: MLCommons LoadGen over OpenVINO on CPUs.

Layout, top layer first (imports point down; ``docs/architecture.md``):

- ``cli``          the ``harness`` command: ``run``, and one module per other command
- ``workflows/``   the commands: runs composed (reference, find_peak, compliance, sweep,
                   compare, optimize, submission) and the rest (quantize, serve, show,
                   models, scenarios)
- ``launchers/``   the only code that starts runs (inline, process, ray)
- ``reports/``     tables, plots and the Markdown report over many runs
- ``submission/``  MLPerf submission trees: build and check
- ``run/``         one run: its config, ``benchmark.run``, the report (``run.json``), the
                   run directories
- components: ``sut`` / ``qsl`` (LoadGen's SUT and QSL), ``scenarios/``, ``backends/``
  (OpenVINO, PyTorch, KServe behind one interface and one config base), ``datasets/``,
  ``accuracy/``, ``postprocess`` / ``detection``, ``model_stats``, ``model_precision``
- basics: ``cards`` (``models/*.toml``), ``weights``, ``networks/``, ``system``,
  ``loadgen_logs``, ``options``, ``files``, ``hashing``, ``paths``, ``errors``
"""

__version__ = "0.1.0"
