"""The report of a ``harness optimize`` search, from plain data: its trials (the records of
``trials.json``), the best of them, and the side-by-side baselines.

- :data:`OBJECTIVES`: what each scenario's search measures and in which direction;
- :func:`select_best`, :func:`trials_to_best`, :func:`speedup`: the selection rule and the
  ratios the report and the command print;
- :func:`plot_pareto` (``pareto.png``) and :func:`report_md` (``report.md``).

A trial record is a dict with at least ``number``, ``state`` (``COMPLETE``, ``PRUNED``,
``FAIL``, ``SKIPPED``, ``INTERRUPTED``), ``params``, ``score`` (None: no score), ``accuracy``
(percent or None), ``gate`` (``PASS``, ``FAIL`` or None) and ``gate_violation`` (<= 0:
feasible); see :class:`harness.run.records.OptimizeTrials`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

#: Scenario -> (what is measured, Optuna direction).
OBJECTIVES = {"Offline": ("samples/s", "maximize"),
              "SingleStream": ("p90 latency ms", "minimize"),
              "Server": ("VALID Server target QPS", "maximize")}

#: Marker colours of the precisions on the Pareto plot.
PRECISION_COLOURS = {"fp32": "tab:blue", "bf16": "tab:orange", "int8": "tab:green",
                     "int8-ac": "tab:red"}


def select_best(trials: list[dict[str, Any]], scenario: str) -> dict[str, Any] | None:
    """The best complete, feasible trial (never one that failed the 99% gate).

    Args:
        trials: trial records (see the module docstring).
        scenario: decides the direction (SingleStream: lowest latency).
    """
    ok = [t for t in trials if t["state"] == "COMPLETE" and t["score"] is not None
          and t["gate"] != "FAIL" and t["gate_violation"] <= 0]
    if not ok:
        return None
    pick = min if OBJECTIVES[scenario][1] == "minimize" else max
    return pick(ok, key=lambda t: t["score"])


def trials_to_best(trials: list[dict[str, Any]], scenario: str) -> int | None:
    """How many measured trials the search needed to reach its best (skipped invalid points
    and interrupted trials not counted)."""
    best = select_best(trials, scenario)
    if best is None:
        return None
    return sum(1 for t in trials if t["state"] not in ("SKIPPED", "INTERRUPTED")
               and t["number"] <= best["number"])


def speedup(scenario: str, best: float | None, other: float | None) -> float | None:
    """How many times better ``best`` is than ``other`` (latency: other / best)."""
    if not best or not other:
        return None
    return other / best if OBJECTIVES[scenario][1] == "minimize" else best / other


def no_best_reason(trials: list[dict[str, Any]]) -> str:
    """Why no trial is best: none complete, none with a score (a Server trial that found no
    VALID target has none), or all failed the gate."""
    done = [t for t in trials if t["state"] == "COMPLETE"]
    if not done:
        return "No trial completed (see the failed trials' errors)."
    # no trial is best, so every complete trial with a score failed the gate
    if all(t["score"] is None for t in done):
        return ("No trial reached a VALID Server target at the latency bound: relax it with "
                "--user-conf (a file saying e.g. *.Server.target_latency = 100) or search "
                "fewer streams.")
    return "No complete trial keeps 99% of the FP32 reference's accuracy."


def server_offline_note(best: dict[str, Any]) -> str:
    """``"; Server / Offline 0.875 (...)"`` for a Server trial, else ``""``: the peak's ratio
    to the Offline samples/s of the same configuration, measured by its find-peak search."""
    facts = best.get("facts") or {}
    if facts.get("server_to_offline_ratio") is None:
        return ""
    return (f"; Server / Offline {facts['server_to_offline_ratio']:.3f} (Offline "
            f"{facts['offline_samples_per_second']:.2f} samples/s, same configuration)")


def pareto_front(points: list[tuple[float, float]], minimize_x: bool) -> list[tuple]:
    """The non-dominated points of ``(speed, accuracy)``: higher accuracy, and higher speed
    (or lower latency with ``minimize_x``), sorted by speed."""
    front = []
    for p in points:
        dominated = any((q[1] >= p[1] and (q[0] <= p[0] if minimize_x else q[0] >= p[0]))
                        and q != p for q in points)
        if not dominated:
            front.append(p)
    return sorted(set(front))


def plot_pareto(trials: list[dict[str, Any]], scenario: str, path: Path,
                with_accuracy: bool) -> None:
    """``pareto.png``: accuracy against speed, one mark per trial, colour by precision, the
    front drawn; with random weights, speed per trial (no accuracy), said in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [t for t in trials if t["state"] == "COMPLETE" and t["score"] is not None]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    unit = OBJECTIVES[scenario][0]
    for precision, colour in PRECISION_COLOURS.items():
        sel = [t for t in done if t["params"].get("precision") == precision]
        if not sel:
            continue
        ys = [t["accuracy"] if with_accuracy else t["number"] for t in sel]
        ax.scatter([t["score"] for t in sel], ys, c=colour, label=precision, marker="o")
        bad = [t for t in sel if t["gate"] == "FAIL"]
        if bad:
            ax.scatter([t["score"] for t in bad], [t["accuracy"] or 0 for t in bad],
                       facecolors="none", edgecolors="k", s=120, label="fails 99% gate")
    if with_accuracy:
        feasible = [(t["score"], t["accuracy"]) for t in done
                    if t["gate"] != "FAIL" and t["accuracy"] is not None]
        front = pareto_front(feasible, OBJECTIVES[scenario][1] == "minimize")
        if front:
            ax.plot([p[0] for p in front], [p[1] for p in front], "k--", label="Pareto front")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(f"{scenario}: accuracy against speed, {len(done)} trials")
    else:
        ax.set_ylabel("trial number")
        ax.set_title(f"{scenario}: RANDOM weights, speed only (no accuracy), "
                     f"{len(done)} trials")
    ax.set_xlabel(unit)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _side_by_side_lines(side: dict[str, Any], scenario: str, baseline_rounds: int,
                        duration_ms: int) -> list[str]:
    """The side-by-side table of ``report.md``: best, default hint, PyTorch eager."""
    unit = OBJECTIVES[scenario][0]
    m = side["means"]
    same = side.get("same_as_best", [])
    lines = [f"Side by side ({baseline_rounds} alternating rounds, {duration_ms} ms each):",
             "", f"| configuration | {unit} | best / this |", "| --- | ---: | ---: |"]
    for name in m:
        value, n = m[name], len(side["samples"][name])
        missed = side.get("no_valid_target", {}).get(name, 0)
        rounds = f" ({n} of {n + missed} rounds; {missed} found no VALID target)" \
            if missed else ""
        if name in same:
            lines.append(f"| {name} | the best configuration itself (measured once, as "
                         f"best) | 1.000x |")
        elif value is not None:
            ratio = speedup(scenario, m["best"], value)
            lines.append(f"| {name} | {value:.2f}{rounds} | "
                         f"{f'{ratio:.3f}x' if ratio else ''} |")
        else:
            why = side["errors"].get(name) or f"no VALID target in {missed} rounds"
            lines.append(f"| {name} | failed: {why} | |")
    return lines


def report_md(trials: list[dict[str, Any]], best: dict[str, Any] | None,
              side: dict[str, Any] | None, *, scenario: str, models: list[str],
              with_accuracy: bool, sampler: str, space_size: int, baseline_rounds: int,
              duration_ms: int) -> str:
    """``report.md``: the best configuration, the ratios, the trials.

    Args:
        trials: trial records; best: the best of them (:func:`select_best`) or None.
        side: the side-by-side baselines (``{"means", "samples", "no_valid_target",
            "same_as_best", "errors"}``) or None.
        scenario, models, with_accuracy, sampler, space_size, baseline_rounds, duration_ms:
            the search's settings (``duration_ms``: each measurement's, ms).
    """
    unit = OBJECTIVES[scenario][0]
    lines = [f"# harness optimize: {scenario}, models {', '.join(models)}", ""]
    if not with_accuracy:
        lines += ["**Speed only: random weights or no dataset, so no accuracy was measured "
                  "and no 99% gate applied.**", ""]
    n_done = sum(t["state"] == "COMPLETE" for t in trials)
    lines += [f"Trials: {len(trials)} ({n_done} complete, "
              f"{sum(t['state'] == 'PRUNED' for t in trials)} pruned, "
              f"{sum(t['state'] == 'SKIPPED' for t in trials)} points skipped (invalid or "
              f"repeated), "
              f"{sum(t['state'] == 'FAIL' for t in trials)} failed); sampler "
              f"{sampler}; space of {space_size} points"
              + (f"; best reached after {trials_to_best(trials, scenario)} measured trials "
                 f"(trial #{best['number']})." if best else "."), ""]
    if best is None:
        lines.append(no_best_reason(trials))
    else:
        lines += [f"Best: {json.dumps(best['params'])} -> {best['score']:.2f} {unit} (search)"
                  + server_offline_note(best), ""]
    if side:
        lines += _side_by_side_lines(side, scenario, baseline_rounds, duration_ms)
    lines += ["", "| # | state | params | score | accuracy | gate |",
              "| ---: | --- | --- | ---: | ---: | --- |"]
    for t in trials:
        score = f"{t['score']:.2f}" if t["score"] is not None else \
            "no VALID target" if t.get("no_valid_target") else ""
        acc = f"{t['accuracy']:.3f}" if t["accuracy"] is not None else ""
        lines.append(f"| {t['number']} | {t['state']} | {json.dumps(t['params'])} | {score} | "
                     f"{acc} | {t['gate'] or ''} |")
    return "\n".join(lines) + "\n"
