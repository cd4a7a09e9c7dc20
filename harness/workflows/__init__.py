"""Workflows: the ``harness`` commands, one module each with ``HELP``, ``add_arguments(parser)``
and ``main(args)`` (listed in :data:`harness.cli.COMMAND_MODULES`).

Commands that take a run config and a launcher and start one or more runs:

- :mod:`.reference`: the FP32 reference of the 99% gate, then the measured run
  (``harness run``);
- :mod:`.find_peak`: the Server target search; :mod:`.compliance`: TEST01/TEST04;
- :mod:`.sweep`: a grid of configurations; :mod:`.compare`: the comparison plan;
- :mod:`.optimize`: the Optuna search of the backend's deployment settings;
- :mod:`.submission`: everything a submission needs (``harness prepare-submission``).

Commands that start no LoadGen run:

- :mod:`.quantize`: an INT8 build; :mod:`.serve`: a card's OpenVINO model behind a KServe v2
  server;
- :mod:`.show`: the runs as a table; :mod:`.models`, :mod:`.scenarios`: the cards and the
  scenarios.

Workflows never call :func:`harness.run.benchmark.run` themselves: launchers do.
"""
