"""The FP32 reference of the 99% accuracy gate: found among earlier runs, or run first.

A derived accuracy run (INT8 or bf16 of a model; FP32 of an optimized architecture whose
card names a ``reference_model``; :func:`harness.accuracy.gate.reference_spec`) is held to
99% of an FP32 accuracy run on the same samples. :func:`with_reference` finds the latest
complete such run in the same results folder and system, or runs it first through the
launcher, and returns the derived run's config with ``mode.reference_run`` set. It decides
the gate once (:func:`harness.accuracy.gate.decide`), carried in ``mode.gate``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .. import cards, system
from .. import weights as weights_mod
from ..accuracy import gate
from ..datasets import open_dataset
from ..errors import HarnessError
from ..launchers import Launcher
from ..results_tree import ResultsTree
from ..run import report as report_mod
from ..run.config import (DataConfig, ExecutionConfig, LauncherConfig, ModeConfig,
                          ModelConfig, OpenVINOConfig, RunConfig, ScenarioConfig)


def find_reference(results_dir: Path | str, system_name: str, model: str, dataset_path: str,
                   count: int, weights_identity: str | None) -> Path | None:
    """The latest complete FP32 accuracy run of ``model`` on the same dataset and count.

    Args:
        results_dir: results root.
        system_name: the system folder (runs of other systems are not used).
        model: reference card name.
        dataset_path: the dataset folder (resolved) the derived run evaluates.
        count: how many of its samples.
        weights_identity: required weights identity (None: any trained weights).
    """
    best: tuple[str, Path] | None = None
    root = ResultsTree(results_dir).model_dir(system_name, model)
    if not root.is_dir():
        return None
    for run_dir, rep in report_mod.iter_reports(root):
        if isinstance(rep, report_mod.UnreadableReport):
            continue
        cfg = rep.config
        if (not rep.complete or not cfg.accuracy or cfg.precision != "fp32"
                or cfg.model.name != model or not rep.accuracy
                or rep.dataset.get("path") != dataset_path
                or rep.dataset.get("count") != count):
            continue
        if weights_identity and rep.weights.get("identity") != weights_identity:
            continue
        if not rep.weights.get("trained"):
            continue
        if best is None or str(rep.started) > best[0]:
            best = (str(rep.started), run_dir)
    return best[1] if best else None


def reference_config(config: RunConfig, spec: dict, dataset_path: str, count: int,
                     system_name: str) -> RunConfig:
    """The FP32 accuracy run a derived run is held to (OpenVINO FP32 Offline, same data,
    results folder, system, execution mode and CPUs)."""
    return RunConfig(
        model=ModelConfig(name=spec["model"], weights=spec["weights"]),
        data=DataConfig(dataset=dataset_path, count=count),
        backend=OpenVINOConfig(precision="fp32"),
        scenario=ScenarioConfig(name="Offline"), mode=ModeConfig(name="accuracy"),
        execution=ExecutionConfig(kind=config.execution.kind,
                                  results_dir=config.execution.results_dir,
                                  system=system_name),
        launcher=LauncherConfig(name="process", cores=config.launcher.cores))


def with_reference(config: RunConfig, launcher: Launcher) -> RunConfig:
    """``config`` with the 99% gate decided (``mode.gate``) and, held to an FP32 reference,
    its reference run set (``mode.reference_run``), found or run first.

    Returns ``config`` unchanged in performance mode or when its gate is decided; with the
    decision alone for a plain FP32 model (none), random weights (skipped) or a reference
    already given.

    Raises:
        HarnessError: bad input (unknown model, weights, dataset), or the reference run
            fails.
    """
    if not config.accuracy or config.mode.gate is not None:
        return config
    card = cards.load(config.model.name)
    spec = gate.reference_spec(config.precision, card, config.model.weights)
    weights = None if spec is None else weights_mod.resolve(
        card, config.model.weights, config.mode.name, config.mode.allow_random_accuracy)
    config = replace(config, mode=replace(
        config.mode, gate=gate.decide(spec, weights is not None and weights.trained)))
    if config.mode.gate != gate.HELD or config.mode.reference_run:
        return config
    dataset = open_dataset(card, config.data.dataset, config.data.count, synthetic_count=0)
    desc = dataset.describe()
    system_name = config.execution.system or system.default_system_name()
    identity = weights.identity if spec["same_weights"] else None
    found = find_reference(config.execution.results_dir, system_name, spec["model"],
                           desc["path"], desc["count"], identity)
    if found is None:
        print(f"accuracy gate: no FP32 reference run of {spec['model']} on these "
              f"{desc['count']} samples in {config.execution.results_dir}: running it first "
              f"...", flush=True)
        ref_config = reference_config(config, spec, desc["path"], desc["count"], system_name)
        try:
            found = launcher.fresh().launch(ref_config).path
        except HarnessError as exc:
            raise HarnessError(f"the FP32 reference run of {spec['model']} failed ({exc}); "
                               f"the {config.precision} accuracy run needs it for the 99% "
                               f"gate") from None
    else:
        print(f"accuracy gate: FP32 reference of this {spec['why']}: {found}", flush=True)
    return replace(config, mode=replace(config.mode, reference_run=str(found)))


def measure(config: RunConfig, launcher: Launcher, command: list[str] | None = None
            ) -> report_mod.RunReport:
    """One measured run (``harness run``): its FP32 reference first when the 99% gate needs
    one, then the run itself through ``launcher``."""
    return launcher.launch(with_reference(config, launcher), command)
