"""MLPerf-style inference benchmark harness: MLCommons LoadGen over OpenVINO on CPUs.

Layout (one module or folder per concept):

- ``cards``       model cards read from the top-level ``models/`` folder
- ``scenarios``   scenario definitions and LoadGen ``TestSettings`` from ``scenarios/``
- ``datasets/``   ImageNet (MLPerf ``val_map.txt`` layout) and synthetic datasets
- ``backends/``   inference backends behind one small interface (OpenVINO, ...)
- ``qsl`` / ``sut``  the LoadGen query sample library and system under test
- ``accuracy/``   scoring of ``mlperf_log_accuracy.json`` (top-1, ...)
- ``runner``      one benchmark run end to end; ``results`` the run directories
- ``cli``         the ``harness`` command
"""

__version__ = "0.1.0"
