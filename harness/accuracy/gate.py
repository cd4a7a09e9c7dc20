"""The accuracy gate: a derived model must keep at least 99% of its FP32 reference accuracy.

Rule: MLPerf Inference rules (v5.1, "Accuracy targets"): the ResNet-50 closed target is 99%
of the FP32 reference accuracy (75.6954% = 0.99 x 76.46%); open-division variants (INT8,
BF16, optimized architectures such as BootstrapNAS) are held to 99% of their own FP32
reference on the same samples (../shared/docs/mlperf-facts.md).

Derived runs and their reference (:func:`reference_spec`):

- precision int8 or bf16: the same model, same weights, precision fp32;
- precision fp32 of a card with ``reference_model = "<name>"`` (an optimized architecture):
  that model's FP32 run with its standard weights.

Whether a run is held to the gate is decided once (:func:`decide`), by the workflow that
makes the run's config (:mod:`harness.workflows.reference`, which also finds the reference
run, or runs it first), and carried in the config (``mode.gate``); the run applies the gate
(:func:`apply`). The gate is generic over an accuracy dict (``{"metric",
"value" (percent)}``): top-1 and mAP alike.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import HarnessError

#: Minimum ratio derived / reference accuracy (MLPerf: 99% of FP32).
THRESHOLD = 0.99
#: The decisions of :func:`decide`: held to an FP32 reference run, skipped (random weights),
#: none (not a derived run).
HELD, SKIPPED, NONE = "held", "skipped", "none"
DECISIONS = (HELD, SKIPPED, NONE)
#: Why the gate of a derived run with random weights is skipped (its SKIPPED record).
SKIPPED_WHY = "random weights: accuracy is meaningless, no 99% gate"


def decide(spec: dict[str, Any] | None, trained: bool) -> str:
    """The 99% gate of an accuracy run: :data:`HELD` to an FP32 reference run,
    :data:`SKIPPED` (random weights: nothing to hold to 99% of another run) or :data:`NONE`
    (not a derived run).

    Args:
        spec: the run's :func:`reference_spec`.
        trained: whether its weights are trained (:attr:`harness.weights.Weights.trained`).
    """
    if spec is None:
        return NONE
    return HELD if trained else SKIPPED


def reference_spec(precision: str, card, weights: str | None) -> dict[str, Any] | None:
    """Which FP32 run a run is held to, or None when it is not a derived run.

    Args:
        precision: the run's precision.
        card: its model card.
        weights: its ``--weights`` (None: the card's standard weights).

    Returns:
        ``{"model", "weights" (the --weights to give it), "same_weights" (bool), "why"}``.
    """
    if precision != "fp32":
        return {"model": card.name, "weights": weights, "same_weights": True,
                "why": f"{precision} model of {card.name}"}
    ref = card.extra.get("reference_model")
    if ref and ref != card.name:
        return {"model": str(ref), "weights": None, "same_weights": False,
                "why": f"optimized architecture {card.name}, reference model {ref}"}
    return None


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


def apply(run_dir: Path, accuracy: dict[str, Any], reference: dict[str, Any],
          reference_run: Path, reference_model: str | None,
          reference_precision: str = "fp32") -> dict[str, Any]:
    """Evaluate the gate for a scored run, append it to ``accuracy.txt`` and return it.

    The official lines (``accuracy=...``, ``hash=...``) stay first and unchanged.

    Args:
        run_dir: the derived run.
        accuracy: its accuracy dict.
        reference: the reference run's accuracy dict.
        reference_run, reference_model: the reference run directory and its model.
        reference_precision: the reference run's precision label (``fp32``; ``uint8`` for
            a quantized model file run as given, :mod:`harness.model_precision`).
    """
    gate = evaluate(accuracy, reference, reference_run)
    gate["reference_model"] = reference_model
    gate["reference_precision"] = reference_precision
    with (Path(run_dir) / "accuracy.txt").open("a") as f:
        f.write(gate_lines(gate))
    print(f"accuracy gate: {gate['metric']} {gate['value']:.3f}% vs "
          f"{gate['reference_value']:.3f}% of the reference ({gate['reference_model']} "
          f"{reference_precision} as given): ratio "
          f"{gate['ratio']:.4f} -> {gate['result']} (>= {gate['threshold']:.0%} needed)",
          flush=True)
    return gate
