"""``harness optimize``: the fastest deployment that keeps 99% of FP32 accuracy, per scenario.

A search over deployment settings with **Optuna**, every trial a real LoadGen test-mode run
through a launcher:

- **Space** (per model; each dimension can be narrowed on the command line): the model
  (several cards of one family, e.g. resnet50 and the BootstrapNAS subnetworks: same LoadGen
  benchmark and reference model), precision (``fp32``; ``bf16`` where the CPU has it;
  ``int8``; ``int8-ac``: INT8 with NNCF accuracy control, trained weights only), OpenVINO
  streams and threads (each also ``auto``: the hint's choice), infer requests per stream,
  performance hint, batch size (not for SingleStream) and, for Server, the batching window
  (``--batch-timeout-us``; a window needs a batch > 1).
- **Objective**: Offline samples/s (maximise), SingleStream p90 latency (the early-stopping
  estimate, ms; minimise), or the Server target QPS that is VALID at the latency bound
  (maximise; each trial is a short find-peak search, so trials are fewer and longer).
- **Constraint**: accuracy at least 99% of the FP32 reference (the harness's gate,
  :mod:`harness.accuracy.gate`), measured on the given real dataset with real weights, once per
  (model, precision), and reused. A trial whose model and precision fail the gate is
  infeasible: it is never reported as best. With random weights there is no accuracy: the
  search runs on speed alone and every output says so.
- **Optuna**: the first trials are OpenVINO's default THROUGHPUT hint at batch 1, once per
  model and precision (enqueued), so every precision is measured and the search starts
  from the default it has to beat; with accuracy, a multi-objective study (accuracy, speed)
  whose Pareto front is drawn; with speed alone, a single-objective study with a median
  pruner on a short first measurement (Optuna does not prune multi-objective studies).
  Samplers: ``tpe`` (default), ``random``, or ``grid`` (the exhaustive grid over the same
  space, for comparison). The study is kept in the results root
  (``<results>/<system>/optimize/<study>.journal``, an Optuna journal file), so an
  interrupted search resumes where it stopped when run again: Ctrl-C (or SIGTERM) marks the
  trial under way interrupted (pruned, not counted toward ``--trials``; its point is
  measured again on resume) and ends with one line and exit status 130; a journal whose
  last lines were cut or damaged (a write cut short) is resumed from its intact lines, the
  original kept beside it.
- **Baselines**, measured side by side with the best configuration at the end (alternating
  rounds): OpenVINO's default THROUGHPUT hint at batch 1 (same model and precision,
  everything else the harness's defaults), and PyTorch eager FP32 where the card has a
  PyTorch network.

Output in ``<results>/<system>/optimize/<stamp>/``: ``trials.json`` and ``trials.csv``
(every trial: parameters, config, result, run directory, state), ``best_<Scenario>.json`` (a
run config ``harness run --config`` replays), ``best_<Scenario>.user.conf`` (the matching
user.conf), ``pareto.png`` and ``report.md`` (best vs default hint vs PyTorch eager, as
ratios). The command ends with the best configuration and its ratio to the default hint.

The package: :mod:`.space` (the dimensions, the default point, the points not run),
:mod:`.trial` (settings, one point's run config and measurement, accuracy once per
precision), :mod:`.study` (Optuna: objective, journal, resume, interrupts), :mod:`.baselines`,
:mod:`.outputs` and :mod:`.main` (options, main); the report and the Pareto plot are
:mod:`harness.reports.optimize`.
"""

from ...errors import HarnessError
from ...reports.optimize import (OBJECTIVES, no_best_reason, pareto_front, plot_pareto,
                                 report_md, select_best, server_offline_note, speedup,
                                 trials_to_best)
from .baselines import baselines
from .main import HELP, add_arguments, main, run_search
from .outputs import write_outputs
from .space import (DEFAULT_POINT, PRECISIONS, Space, _ints, default_params, default_space,
                    family_check, invalid_point)
from .study import (counts, create_study, measured_before, repair_journal,
                    requeue_interrupted, trial_records)
from .trial import Options, Search, accuracy_of, default_config, measure, trial_config

__all__ = ["HELP", "add_arguments", "main", "run_search", "Options", "Search", "Space",
           "DEFAULT_POINT", "PRECISIONS", "OBJECTIVES", "HarnessError", "default_space",
           "default_params", "default_config", "invalid_point", "family_check", "_ints",
           "trial_config", "accuracy_of", "measure", "counts", "measured_before",
           "create_study", "requeue_interrupted", "repair_journal", "trial_records",
           "select_best", "trials_to_best", "speedup", "pareto_front", "plot_pareto",
           "report_md", "no_best_reason", "server_offline_note", "baselines",
           "write_outputs"]
