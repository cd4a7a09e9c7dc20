"""``harness prepare-submission``: every run a submission needs, then its tree and check.

What ``make submission`` runs (one ``harness`` line). For each model:

1. the scenarios to run: ``--scenarios``, else those the system type requires of the
   model's benchmark (round v6.1, :data:`harness.submission.rules.REQUIRED_SCENARIOS`:
   ResNet-50 ``edge`` = SingleStream, MultiStream, Offline; ``datacenter,edge`` adds Server);
2. with Server among them, ``find-peak`` first (:mod:`.find_peak`). When it finds no VALID
   target (:class:`harness.errors.NoValidServerTarget`, the system cannot meet the latency
   bound), Server is left out of the runs and of the tree and the output says so: the open
   division accepts a subset of scenarios (the MLCommons checker ignores missing scenarios
   there);
3. per scenario a performance run (synthetic inputs unless ``--perf-dataset``; an Offline
   run that ended before its minimum duration is repeated once, sized from what it
   measured) and an accuracy run on ``--accuracy-dataset`` (its FP32 reference first, for
   the 99% gate);
4. the compliance tests the round asks of the model (constants.py ``models_TEST01``,
   ``models_TEST04``: resnet TEST01 and TEST04, the COCO detectors TEST01) against each
   VALID performance run (:mod:`.compliance`), as long as the performance runs unless
   ``--compliance-execution test``;
5. the tree (:func:`harness.submission.build.build`) and its check
   (:func:`harness.submission.checker.check_tree`).

A failing step does not stop the others; the tree builder then names what is missing. Every
run goes through the launcher (a fresh process each). Nothing here parses printed output.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from .. import cards, scenarios, system
from .. import options as fields
from ..errors import HarnessError, NoValidServerTarget
from ..files import check_folder_argument
from ..launchers import Launcher, for_many
from ..run import config as run_config
from ..run.config import RunConfig
from ..submission import build as tree_builder
from ..submission import checker, rules
from . import compliance, find_peak, reference

HELP = ("run everything a submission needs (find-peak, performance, accuracy, compliance), "
        "then build and check the tree")


@dataclass
class Plan:
    """What :func:`prepare` runs.

    Attributes:
        models: card names.
        base: the run config every run starts from (precision, backend, weights, ...).
        system_type: ``edge``, ``datacenter`` or ``datacenter,edge``.
        scenarios: scenarios asked for (None: the system type's required ones).
        perf_dataset: performance runs' dataset (None: synthetic inputs).
        accuracy_dataset: accuracy runs' dataset.
        accuracy_weights: accuracy runs' ``--weights`` (None: the base config's).
        compliance_ms: test-mode audit runs' minimum duration (ms).
        compliance_execution: the audit runs' execution mode (None: the performance run's,
            as upstream runs them: a valid-mode run gets 600 s audits).
        peak: find-peak's settings.
        submitter, system_name, system_file, output: the tree's.
        min_duration_s: TESTS ONLY: accept test-mode runs at least this long.
    """

    models: list[str]
    base: RunConfig
    accuracy_dataset: str
    system_type: str = "edge"
    scenarios: list[str] | None = None
    perf_dataset: str | None = None
    accuracy_weights: str | None = None
    compliance_ms: int = 60000
    compliance_execution: str | None = None
    peak: find_peak.SearchOptions = field(default_factory=find_peak.SearchOptions)
    submitter: str = "MyOrg"
    system_name: str | None = None
    system_file: str | None = None
    output: str | None = None
    min_duration_s: float | None = None

    def __post_init__(self) -> None:
        if self.system_type not in rules.REQUIRED_SCENARIOS:
            raise HarnessError(f"--system-type: unknown '{self.system_type}'; valid: "
                               f"{', '.join(rules.REQUIRED_SCENARIOS)}")
        bad = [s for s in (self.scenarios or []) if s not in rules.SCENARIOS]
        if bad:
            raise HarnessError(f"--scenarios: unknown {', '.join(bad)}; valid: "
                               f"{', '.join(rules.SCENARIOS)}")
        if self.compliance_ms < 1:
            raise HarnessError(f"--compliance-ms: {self.compliance_ms} must be at least 1")
        if self.compliance_execution not in (None, "test", "valid"):
            raise HarnessError(f"--compliance-execution: unknown "
                               f"'{self.compliance_execution}'; valid: test, valid")
        for m in self.models:
            model = rules.checker_model(cards.load(m).benchmark)
            if not self.scenarios and rules.required_scenarios(self.system_type, model) is None:
                raise HarnessError(
                    f"--system-type {self.system_type}: round {rules.ROUND} requires no "
                    f"scenario of '{model}' ({m}) on {self.system_type} systems (constants.py "
                    f"required-scenarios tables); use --system-type edge or datacenter,edge, "
                    f"or name the scenarios with --scenarios")


def required_for(plan: Plan, model: str) -> tuple[str, ...]:
    """The scenarios the plan's system type requires of ``model``'s benchmark
    (:func:`harness.submission.rules.required_scenarios`); () when none."""
    return rules.required_scenarios(
        plan.system_type, rules.checker_model(cards.load(model).benchmark)) or ()


def scenarios_for(plan: Plan, model: str) -> list[str]:
    """The scenarios to run for ``model``: asked for, else required by the system type
    (:class:`Plan` refused a model the system type requires nothing of)."""
    return list(plan.scenarios) if plan.scenarios else list(required_for(plan, model))


def compliance_tests_for(model: str) -> tuple[str, ...]:
    """The compliance tests of the round for ``model`` (constants.py ``models_TEST01``,
    ``models_TEST04``: resnet TEST01 and TEST04, the detectors TEST01)."""
    return rules.COMPLIANCE_TESTS.get(rules.checker_model(cards.load(model).benchmark),
                                      rules.COMPLIANCE_TESTS_RUN)


def _config(plan: Plan, model: str, scenario: str, accuracy: bool) -> RunConfig:
    base = plan.base
    weights = (plan.accuracy_weights or base.model.weights) if accuracy else base.model.weights
    backend = base.backend
    if base.precision == "int8" and not backend.quantization.calibration_dataset:
        # performance runs (synthetic inputs) and accuracy runs (real images) calibrate on
        # the same data, so both measure one INT8 model (TEST01 compares their responses)
        backend = replace(backend, quantization=replace(
            backend.quantization, calibration_dataset=plan.accuracy_dataset))
    return replace(
        base, model=replace(base.model, name=model, weights=weights), backend=backend,
        data=replace(base.data, dataset=plan.accuracy_dataset if accuracy else plan.perf_dataset,
                     count=base.data.count if accuracy else None),
        scenario=replace(base.scenario, name=scenario),
        mode=replace(base.mode, name="accuracy" if accuracy else "performance",
                     allow_random_accuracy=accuracy and weights == "random"))


def prepare(plan: Plan, launcher: Launcher) -> int:
    """Run everything, build and check the tree; print what was left out and why.

    Returns:
        0 when the tree was built and its check passed, 1 otherwise.
    """
    start = time.monotonic()
    left_out: dict[str, dict[str, str]] = {}
    problems: list[str] = []
    tree_scenarios: set[str] = set()
    for model in plan.models:
        todo = scenarios_for(plan, model)
        for scenario in required_for(plan, model):
            if scenario not in todo:
                left_out.setdefault(scenario, {})[model] = "not asked for with --scenarios"
        print(f"== {model}: scenarios {', '.join(todo)} "
              f"({'asked for' if plan.scenarios else f'required for system type {plan.system_type}'})",
              flush=True)
        if "Server" in todo and not _find_peak(plan, model, launcher, problems):
            todo.remove("Server")
            left_out.setdefault("Server", {})[model] = \
                "no VALID target at its latency bound on this system"
        for scenario in todo:
            tree_scenarios.add(scenario)
            _run_scenario(plan, model, scenario, launcher, problems)
    _print_left_out(plan, left_out)
    rc = _build_tree(plan, tree_scenarios)
    for p in problems:
        print(f"problem: {p}")
    print(f"prepare-submission took {time.monotonic() - start:.0f} s")
    return rc


def _find_peak(plan: Plan, model: str, launcher: Launcher, problems: list[str]) -> bool:
    """find-peak for ``model``'s Server runs; False when it found no VALID target (Server
    is then left out), True otherwise (a failure is one of the ``problems``)."""
    base = _config(plan, model, "Server", accuracy=False)
    try:
        find_peak.search(base, plan.peak, launcher)
    except NoValidServerTarget as exc:
        print(f"NOTE: find-peak found no VALID Server target for {model}: Server is "
              f"left out of the runs and of the tree ({exc})", flush=True)
        return False
    except HarnessError as exc:
        problems.append(f"find-peak {model}: {exc}")
        print(f"find-peak {model} failed: {exc}", flush=True)
    return True


def _run_scenario(plan: Plan, model: str, scenario: str, launcher: Launcher,
                  problems: list[str]) -> None:
    """The performance run, the accuracy run (its FP32 reference first) and, the
    performance run VALID, the compliance tests of one scenario of ``model``."""
    perf = _launch(launcher, _config(plan, model, scenario, accuracy=False),
                   f"{model} {scenario} performance", problems)
    acc_cfg = _config(plan, model, scenario, accuracy=True)
    try:
        acc_cfg = reference.with_reference(acc_cfg, launcher)
    except HarnessError as exc:
        problems.append(f"{model} {scenario} accuracy reference: {exc}")
    acc = _launch(launcher, acc_cfg, f"{model} {scenario} accuracy", problems)
    if perf is None or not perf.valid or acc is None:
        return
    for test in compliance_tests_for(model):
        print(f"-- {test} {model} {scenario} (audit run and verification) ...", flush=True)
        try:
            rec = compliance.run_test(
                test, perf.path, launcher, acc.path,
                plan.compliance_execution or perf.config.execution.kind, plan.compliance_ms)
            print(f"{test} {model} {scenario}: "
                  f"{'PASS' if rec['passed'] else 'FAIL'}", flush=True)
        except HarnessError as exc:
            problems.append(f"{test} {model} {scenario}: {exc}")
            print(f"compliance {test} {model} {scenario} failed: {exc}", flush=True)


def _print_left_out(plan: Plan, left_out: dict[str, dict[str, str]]) -> None:
    """One NOTE per scenario and model the tree leaves out, and why."""
    for scenario, models in left_out.items():
        for model, why in models.items():
            print(f"NOTE: the tree leaves out {scenario} for {model} ({why})"
                  + (f"; system type {plan.system_type} requires it, the open division "
                     f"accepts a subset (the MLCommons checker checks required scenarios in "
                     f"the closed division only)"
                     if scenario in required_for(plan, model) else ""))


def _build_tree(plan: Plan, tree_scenarios: set[str]) -> int:
    """Build the tree of ``tree_scenarios`` and check it: 0 when it passed, 1 otherwise."""
    base = plan.base
    system_name = plan.system_name or base.execution.system or system.default_system_name()
    out = Path(plan.output or Path("submissions") /
               datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ"))
    try:
        root, files, _ = tree_builder.build(
            [Path(base.execution.results_dir)], out, plan.submitter, system_name,
            Path(plan.system_file) if plan.system_file else None, precision=base.precision,
            models=plan.models, scenarios_=sorted(tree_scenarios) or None,
            min_duration_s=plan.min_duration_s,
            system_defaults={"system_type": plan.system_type})
        print(f"submission tree: {root} ({len(files)} files)")
        report = checker.check_tree(out, plan.min_duration_s)
        checker.print_report(report, plan.min_duration_s)
        return 0 if not report.errors else 1
    except HarnessError as exc:
        print(f"error: the tree was not built: {exc}")
        return 1


def _launch(launcher: Launcher, cfg: RunConfig, what: str, problems: list[str]):
    """Launch one run, printing a line when it starts and one with its outcome (each run's
    own output goes to a log quoted only when it fails: a valid-mode run lasts 10 minutes)."""
    print(f"-- {what} ({cfg.execution.kind} mode) ...", flush=True)
    start = time.monotonic()
    try:
        report = launcher.launch(cfg)
    except HarnessError as exc:
        problems.append(f"{what}: {exc}")
        print(f"{what} run failed: {exc}", flush=True)
        return None
    print(f"   {_outcome(report)} in {time.monotonic() - start:.0f} s: {report.path}",
          flush=True)
    return report


def _outcome(report) -> str:
    """One line: ``VALID, 157.2 samples/s`` or ``accuracy top-1 = 71.200%``."""
    if report.config.mode.name == "accuracy":
        acc = report.accuracy
        return (f"accuracy {acc['metric']} = {acc['value']:.3f}%" if acc and
                acc.get("value") is not None else f"accuracy run {report.status}")
    r = report.result
    if r is None:
        return report.status
    score = f"{r.score:.2f}" if isinstance(r.score, (int, float)) else r.score
    return f"{r.validity}, {r.metric} = {score}"


# --- CLI ----------------------------------------------------------------------------------

#: find-peak's options appear as ``--peak-<option>``, but for these search settings (their
#: defaults: the whole bracket, find-peak's tolerance).
PEAK_PREFIX = "peak"
PEAK_FIXED = ("tolerance", "low", "high")

_OWN = ("--model", "--scenario", "--mode", "--dataset", "--reference-run", "--audit-config",
        "--allow-random-accuracy", "--target-qps")


def add_arguments(p) -> None:
    run_config.add_arguments(p, exclude=_OWN)
    p.add_argument("--models", nargs="+", default=["resnet50"], help="model cards")
    p.add_argument("--system-type", default="edge",
                   help="edge (default), datacenter or datacenter,edge: decides the required "
                        "scenarios")
    p.add_argument("--scenarios", nargs="+", default=None,
                   help="run these scenarios instead of the system type's required ones "
                        "(open division: a subset is allowed)")
    p.add_argument("--perf-dataset", default=None,
                   help="performance runs' dataset (default: synthetic inputs)")
    p.add_argument("--accuracy-dataset", required=True, help="accuracy runs' dataset")
    p.add_argument("--accuracy-weights", default=None,
                   help="accuracy runs' --weights (default: --weights)")
    p.add_argument("--compliance-execution", default=None, choices=("test", "valid"),
                   help="audit runs' execution mode (default: the performance runs', so "
                        "valid-mode runs get official 600 s audits, as upstream)")
    p.add_argument("--compliance-ms", type=int, default=60000,
                   help="minimum duration of each test-mode compliance audit run (ms)")
    p.add_argument("--submitter", default="MyOrg", help="organisation name in the tree")
    p.add_argument("--tree-system", default=None,
                   help="system name in the tree (default: the results' system folder)")
    p.add_argument("--system-file", default=None, help="JSON of the system's description")
    p.add_argument("-o", "--output", default=None,
                   help="submission folder (default: submissions/<UTC stamp>)")
    p.add_argument("--min-duration-s", type=float, default=None,
                   help="TESTS ONLY: accept test-mode runs at least this long (test tree)")
    fields.add_arguments(p, find_peak.SearchOptions, prefix=PEAK_PREFIX,
                         exclude=PEAK_FIXED, help="find-peak {flag}")


def main(args) -> int:
    if args.output:  # checked before hours of runs, not when the tree is built at the end
        root = check_folder_argument(args.output, "-o/--output") / "open" / args.submitter
        if root.exists():  # the open division: what prepare() builds
            raise HarnessError(f"{root} already exists; choose a new -o folder (an existing "
                               f"submission is never overwritten)")
    given = run_config.given(args, exclude=_OWN)
    given.setdefault("--execution", "valid")
    base = run_config.from_arguments(given)
    plan = Plan(
        models=args.models, base=base, accuracy_dataset=args.accuracy_dataset,
        system_type=args.system_type, scenarios=args.scenarios,
        perf_dataset=args.perf_dataset, accuracy_weights=args.accuracy_weights,
        compliance_ms=args.compliance_ms, compliance_execution=args.compliance_execution,
        peak=fields.from_arguments(args, find_peak.SearchOptions, prefix=PEAK_PREFIX),
        submitter=args.submitter, system_name=args.tree_system, system_file=args.system_file,
        output=args.output, min_duration_s=args.min_duration_s)
    return prepare(plan, for_many(base.launcher.name, capture=True))
