"""The accuracy gate: a derived model must keep at least 99% of its FP32 reference accuracy.

Rule: MLPerf Inference rules (v5.1, "Accuracy targets"): the ResNet-50 closed target is 99%
of the FP32 reference accuracy (75.6954% = 0.99 x 76.46%); open-division variants (INT8,
BF16, optimized architectures such as BootstrapNAS) are held to 99% of their own FP32
reference on the same samples (../shared/docs/mlperf-facts.md).

Derived runs and their reference:
- precision int8 or bf16: the same model, same weights, precision fp32;
- precision fp32 of a card with ``reference_model = "<name>"`` (an optimized architecture):
  that model's FP32 run with its standard weights.

The reference run is an accuracy-mode run with status ``complete`` in the same results
folder and system, on the same dataset path and sample count (any backend). If none exists it
is run first (:func:`harness.runner.run_subprocess`, one LoadGen run per process). The gate is
generic over the manifest's ``accuracy`` dict (``{"metric", "value" (percent)}``): top-1 and
mAP alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import results
from ..errors import HarnessError

#: Minimum ratio derived / reference accuracy (MLPerf: 99% of FP32).
THRESHOLD = 0.99


def reference_spec(cfg, card) -> dict[str, Any] | None:
    """Which FP32 run a run is held to, or None when it is not a derived run.

    Returns:
        ``{"model", "weights" (the --weights to give it), "same_weights" (bool), "why"}``.
    """
    if cfg.precision != "fp32":
        return {"model": card.name, "weights": cfg.weights, "same_weights": True,
                "why": f"{cfg.precision} model of {card.name}"}
    ref = card.extra.get("reference_model")
    if ref and ref != card.name:
        return {"model": str(ref), "weights": None, "same_weights": False,
                "why": f"optimized architecture {card.name}, reference model {ref}"}
    return None


def find_reference(results_dir: Path | str, system_name: str, model: str,
                   dataset: dict[str, Any], weights_identity: str | None) -> Path | None:
    """The latest complete FP32 accuracy run of ``model`` on the same dataset and count.

    Args:
        results_dir: results root.
        system_name: the system folder (runs of other systems are not used).
        model: reference card name.
        dataset: the derived run's ``dataset.describe()`` (``path`` and ``count`` compared).
        weights_identity: required weights identity (None: any trained weights).
    """
    best: tuple[str, Path] | None = None
    root = Path(results_dir) / system_name / model
    if not root.is_dir():
        return None
    for run_dir, m in results.iter_runs(root):
        cfg = m.get("config", {})
        ds = m.get("dataset", {}) or {}
        if (m.get("status") != results.STATUS_COMPLETE or cfg.get("mode") != "accuracy"
                or cfg.get("precision") != "fp32" or cfg.get("model") != model
                or not m.get("accuracy") or ds.get("path") != dataset.get("path")
                or ds.get("count") != dataset.get("count")):
            continue
        if weights_identity and (m.get("weights") or {}).get("identity") != weights_identity:
            continue
        started = str(m.get("started", ""))
        if best is None or started > best[0]:
            best = (started, run_dir)
    return best[1] if best else None


def ensure_reference(cfg, card, dataset, weights) -> Path | None:
    """Find the FP32 reference run of a derived accuracy run, running it first if absent.

    Returns:
        The reference run directory, or None when the run is not derived (plain FP32).

    Raises:
        HarnessError: the reference run fails or leaves no complete result.
    """
    spec = reference_spec(cfg, card)
    if spec is None:
        return None
    from ..system import default_system_name

    system_name = cfg.system or default_system_name()
    desc = dataset.describe()
    identity = weights.identity if spec["same_weights"] else None
    found = find_reference(cfg.results_dir, system_name, spec["model"], desc, identity)
    if found is not None:
        print(f"accuracy gate: FP32 reference of this {spec['why']}: {found}", flush=True)
        return found
    print(f"accuracy gate: no FP32 reference run of {spec['model']} on these {desc.get('count')} "
          f"samples in {cfg.results_dir}: running it first ...", flush=True)
    from ..runner import run_subprocess

    args = ["--model", spec["model"], "--precision", "fp32", "--mode", "accuracy",
            "--scenario", "Offline", "--execution", cfg.execution,
            "--dataset", str(desc.get("path") or cfg.dataset),
            "--count", str(desc.get("count")), "--results-dir", str(cfg.results_dir),
            "--system", system_name]
    if spec["weights"]:
        args += ["--weights", str(spec["weights"])]
    proc = run_subprocess(args)
    if proc.returncode != 0:
        raise HarnessError(f"the FP32 reference run of {spec['model']} failed (exit "
                           f"{proc.returncode}); the {cfg.precision} accuracy run needs it for "
                           f"the 99% gate. Run it yourself: harness run {' '.join(args)}")
    found = find_reference(cfg.results_dir, system_name, spec["model"], desc, identity)
    if found is None:
        raise HarnessError(f"the FP32 reference run of {spec['model']} finished but left no "
                           f"complete accuracy result under {cfg.results_dir}")
    return found


def evaluate(accuracy: dict[str, Any], reference: dict[str, Any],
             reference_run: Path | str | None = None, threshold: float = THRESHOLD
             ) -> dict[str, Any]:
    """Compare a derived accuracy with its FP32 reference.

    Args:
        accuracy: the derived run's manifest ``accuracy`` (``metric``, ``value`` percent).
        reference: the reference run's manifest ``accuracy``.
        reference_run: the reference run directory (recorded).
        threshold: minimum ratio (0.99).

    Returns:
        ``{"metric", "value", "reference_value", "ratio", "threshold", "result": "PASS" |
        "FAIL", "reference_run"}``; ``result`` is PASS when ratio >= threshold.

    Raises:
        HarnessError: different metrics, or a reference accuracy of zero.
    """
    if accuracy.get("metric") != reference.get("metric"):
        raise HarnessError(f"accuracy gate: the run measures {accuracy.get('metric')}, its "
                           f"reference {reference.get('metric')}: not comparable")
    ref = float(reference["value"])
    if ref <= 0:
        raise HarnessError(f"accuracy gate: the FP32 reference {reference_run} has "
                           f"{reference.get('metric')} = {ref}%: nothing to hold a model to")
    value = float(accuracy["value"])
    ratio = value / ref
    return {"metric": accuracy["metric"], "value": value, "reference_value": ref,
            "ratio": ratio, "threshold": threshold,
            "result": "PASS" if ratio >= threshold else "FAIL",
            "reference_run": str(reference_run) if reference_run else None}


def gate_lines(gate: dict[str, Any]) -> str:
    """The lines appended to accuracy.txt after the official ones."""
    return (f"fp32_reference={gate['reference_value']:.3f}% ({gate['metric']}, "
            f"{gate['reference_run']})\n"
            f"ratio={gate['ratio']:.4f}, threshold={gate['threshold']:.2f}, "
            f"gate={gate['result']}\n")


def apply(run_dir: Path, accuracy: dict[str, Any], reference_dir: Path) -> dict[str, Any]:
    """Evaluate the gate for a scored run, append it to ``accuracy.txt`` and return it.

    The official lines (``accuracy=...``, ``hash=...``) stay first and unchanged.
    """
    ref_manifest = results.read_manifest(reference_dir)
    gate = evaluate(accuracy, ref_manifest["accuracy"], reference_dir)
    gate["reference_model"] = ref_manifest.get("config", {}).get("model")
    with (Path(run_dir) / "accuracy.txt").open("a") as f:
        f.write(gate_lines(gate))
    print(f"accuracy gate: {gate['metric']} {gate['value']:.3f}% vs FP32 "
          f"{gate['reference_value']:.3f}% ({gate['reference_model']}): ratio "
          f"{gate['ratio']:.4f} -> {gate['result']} (>= {gate['threshold']:.0%} needed)",
          flush=True)
    return gate
