"""Workflows: commands that take a run config and a launcher and start one or more runs.

- :mod:`.reference`: the FP32 reference of the 99% gate, then the measured run
  (``harness run``);
- :mod:`.find_peak`: the Server target search; :mod:`.compliance`: TEST01/TEST04;
- :mod:`.sweep`: a grid of configurations; :mod:`.compare`: the comparison plan;
- :mod:`.submission`: everything a submission needs (``harness prepare-submission``);
- :mod:`.quantize`: an INT8 build without LoadGen.

Workflows never call :func:`harness.run.benchmark.run` themselves: launchers do.
"""
