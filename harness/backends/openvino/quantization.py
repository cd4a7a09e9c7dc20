"""INT8 by post-training quantization with NNCF, cached as an OpenVINO IR.

``PRECISION=int8`` builds the card's FP32 IR (:func:`harness.backends.openvino.ir.fp32_model`) and quantizes it
with ``nncf.quantize`` (default preset: symmetric INT8 weights and activations, OpenVINO
CPU's fast path) on a calibration set; with ``--max-accuracy-drop`` it uses
``nncf.quantize_with_accuracy_control`` instead, which keeps the most sensitive layers in
floating point until the relative drop of the task's validation metric on held-out samples
is within bound (MLPerf's rule: at least 99% of the FP32 accuracy, i.e. a relative drop of
0.01).

Calibration set (MLPerf style: a fixed list of dataset images; the official ImageNet one is
``cal_image_list_option_1.txt`` of mlcommons/inference ``calibration/ImageNet``):

- ``--calibration-list FILE``: one sample file name per line (relative to the dataset
  folder; ``#`` comments allowed), e.g. ``models/calibration/imagenet-sample-300.txt``;
- no list: a seeded draw (``numpy.random.default_rng(CALIBRATION_SEED)``) of
  ``--calibration-count`` samples (default: the card's ``[quantization] calibration_count``,
  else 300) from the run's dataset;
- no dataset (random-weights performance runs): the seeded synthetic samples of the card's
  input shape, recorded as synthetic (the scales are then meaningless for accuracy but give
  the same INT8 graph, hence the same speed).

Samples come through the generic :class:`harness.datasets.Dataset` interface only
(``open_dataset`` then ``load_sample(i)``), so any dataset reader works. To map list names to
sample indices a dataset provides ``sample_names() -> list[str]`` (or, as ImageNetDataset
does, an ``entries`` list of ``(file name, ...)``).

Configuration: the run's :class:`harness.backends.openvino.config.QuantizationConfig` (part
of the OpenVINO backend's config) is passed to :func:`int8_model` with the calibration
dataset folder and the run's evaluated sample count: no module-level state.

Card settings: a card's ``[quantization]`` table may tune NNCF for its model (all optional,
all recorded in ``quantization.json`` and part of the cache key; see :func:`card_settings`):
``calibration_count``, ``preset`` (``"performance"`` | ``"mixed"``), ``fast_bias_correction``
(false: NNCF's full BiasCorrection), ``model_type`` (``"transformer"``), ``ignored_types`` /
``ignored_names`` / ``ignored_patterns`` (an ``nncf.IgnoredScope``: operations left in floating
point), ``smooth_quant_alpha``, and for accuracy control ``ranking_subset_size`` and
``validation_overlap``.

Validation samples of accuracy control: by default held out (dataset samples not in the
calibration set). A dataset too small to hold out a useful validation set (e.g. the 158-image
COCO subset) may validate on the samples the run evaluates instead: ``validation_overlap =
true`` in the card or ``--validation-overlap`` (``harness quantize``). That is explicit,
printed, and recorded as "validation overlaps evaluation" with the count (``quantization.json``
and the run manifest): the model is then tuned on the very samples its accuracy is reported on.

Cache: ``<cache>/ir/<key>/model.xml`` with ``quantization.json`` beside it; the key covers
the model, weights, calibration samples (list file hash or draw), count, accuracy-control
settings and the NNCF and OpenVINO versions. Entries are written to a temporary folder and
renamed into place: a failed quantization leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ...cards import ModelCard
from ...datasets import open_dataset
from ...detection import validate_map
from ...errors import HarnessError, shorten
from ...postprocess import for_card
from ...system import INT8_ISAS, VNNI_ISAS, int8_isa, max_cpu_isa
from ...weights import Weights
from . import ir
from .config import QuantizationConfig

DEFAULT_CALIBRATION_COUNT = 300
CALIBRATION_SEED = 0
#: Held-out samples for accuracy-controlled quantization (samples not in the calibration set).
DEFAULT_VALIDATION_COUNT = 300
INFO_FILE = "quantization.json"


# --- validation metrics per task -----------------------------------------------------------

def classification_top1(compiled_model, dataset, indices, card: ModelCard | None = None
                        ) -> float:
    """Top-1 (fraction 0..1) of ``compiled_model`` on ``dataset`` samples ``indices``.

    The predicted class is the card's response (argmax plus ``class_offset``), compared with
    ``dataset.labels[i]``.
    """
    post = for_card(card) if card is not None else (
        lambda outputs, _i: np.array([np.argmax(outputs[0])]))
    good = 0
    for i in indices:
        result = compiled_model(dataset.load_sample(int(i)))
        response = post([result[k] for k in range(len(result))], int(i))
        good += int(response[0]) == int(dataset.labels[int(i)])
    return good / max(1, len(indices))


#: task -> ``fn(compiled_model, dataset, indices[, card=card]) -> float`` (higher is better).
#: Used by accuracy-controlled quantization; functions that take a ``card`` keyword get it.
VALIDATORS: dict[str, Callable[..., float]] = {"classification": classification_top1,
                                               "detection": validate_map}


# --- card settings ------------------------------------------------------------------------

#: ``[quantization]`` keys a card may set (docs/int8-and-zoo.md, "Card settings").
CARD_KEYS = ("calibration_count", "preset", "fast_bias_correction", "model_type",
             "ignored_types", "ignored_names", "ignored_patterns", "smooth_quant_alpha",
             "ranking_subset_size", "validation_overlap", "validated_isas")


def card_settings(card: ModelCard) -> dict[str, Any]:
    """The NNCF settings of a card's ``[quantization]`` table, checked; only keys the card
    sets (an empty dict: NNCF defaults).

    Returns:
        Subset of ``{"preset": "performance" | "mixed", "fast_bias_correction": bool,
        "model_type": "transformer", "ignored_scope": {"types", "names", "patterns": list of
        str}, "smooth_quant_alpha": float, "ranking_subset_size": int}`` (JSON-able: it is
        part of the cache key and of ``quantization.json``). ``calibration_count`` and
        ``validation_overlap`` are read where they are used.

    Raises:
        HarnessError: an unknown key or a value of the wrong kind (naming the card and key).
    """
    table = dict(card.extra.get("quantization", {}) or {})
    where = f"model card {card.name}, [quantization]"
    unknown = sorted(set(table) - set(CARD_KEYS))
    if unknown:
        raise HarnessError(f"{where}: unknown key(s) {', '.join(unknown)}; known: "
                           f"{', '.join(CARD_KEYS)}")
    out: dict[str, Any] = {}
    if "preset" in table:
        if table["preset"] not in ("performance", "mixed"):
            raise HarnessError(f"{where}: preset = {table['preset']!r}; use \"performance\" "
                               f"(symmetric activations) or \"mixed\" (asymmetric activations)")
        out["preset"] = table["preset"]
    for key in ("fast_bias_correction", "validation_overlap"):
        if key in table and not isinstance(table[key], bool):
            raise HarnessError(f"{where}: {key} must be true or false, not {table[key]!r}")
    isas = table.get("validated_isas")
    if isas is not None and (not isinstance(isas, list) or not isas
                             or not set(isas) <= set(INT8_ISAS)):
        raise HarnessError(f"{where}: validated_isas must be a non-empty list of "
                           f"{', '.join(INT8_ISAS)}, not {isas!r}")
    if "fast_bias_correction" in table:
        out["fast_bias_correction"] = table["fast_bias_correction"]
    if "model_type" in table:
        if table["model_type"] != "transformer":
            raise HarnessError(f"{where}: model_type = {table['model_type']!r}; NNCF knows "
                               f"only \"transformer\" (leave it out for other models)")
        out["model_type"] = "transformer"
    scope = {}
    for key in ("types", "names", "patterns"):
        value = table.get(f"ignored_{key}")
        if value is None:
            continue
        if not isinstance(value, list) or not value or not all(
                isinstance(v, str) and v for v in value):
            raise HarnessError(f"{where}: ignored_{key} must be a non-empty list of strings")
        scope[key] = list(value)
    if scope:
        out["ignored_scope"] = scope
    if "smooth_quant_alpha" in table:
        alpha = table["smooth_quant_alpha"]
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not (
                alpha == -1 or 0 <= alpha <= 1):
            raise HarnessError(f"{where}: smooth_quant_alpha must be in [0, 1] (or -1: off)")
        out["smooth_quant_alpha"] = float(alpha)
    if "ranking_subset_size" in table:
        size = table["ranking_subset_size"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise HarnessError(f"{where}: ranking_subset_size must be an integer >= 1")
        out["ranking_subset_size"] = size
    return out


# --- the INT8 kernels the model is quantized for ------------------------------------------

def isa_choice(config: QuantizationConfig) -> dict[str, Any]:
    """The NNCF overflow fix for the INT8 kernels this run uses, and why.

    Without VNNI or AMX (AVX2, AVX-512 without VNNI) OpenVINO's CPU plugin sums u8 x s8
    products in int16 with saturation; NNCF's ``OverflowFix.ENABLE`` (weights in 7 bits, all
    layers) is NNCF's documented remedy for such CPUs. With VNNI or AMX the products are summed
    in int32 and NNCF's default (``first_layer_only``) holds. Measured on YOLOX-Nano (158 COCO
    images, docs/int8-and-zoo.md "INT8 per ISA"): AVX2 kernels 10.4% mAP with the default,
    26.7% with the fix (FP32 27.9%).

    Returns:
        ``{"int8_isa": one of system.INT8_ISAS, "onednn_max_cpu_isa": cap or None,
        "overflow_fix": "enable" | "first_layer_only" | "disable", "reason": str}``.

    Raises:
        HarnessError: an unknown ``ONEDNN_MAX_CPU_ISA`` value.
    """
    isa = int8_isa()
    if config.overflow_fix is not None:
        fix, reason = config.overflow_fix, "--overflow-fix"
    elif isa in VNNI_ISAS:
        fix, reason = "first_layer_only", (f"{isa} kernels sum INT8 products in int32: "
                                           f"NNCF's default")
    else:
        fix, reason = "enable", (f"{isa} kernels have no VNNI: u8 x s8 products saturate in "
                                 f"int16, so every layer's weights use 7 bits")
    return {"int8_isa": isa, "onednn_max_cpu_isa": max_cpu_isa(), "overflow_fix": fix,
            "reason": reason}


def validated_isas(card: ModelCard) -> list[str] | None:
    """The INT8 kernel classes a card's INT8 settings were validated on (its
    ``[quantization] validated_isas``), or None when the card does not say."""
    return (card.extra.get("quantization", {}) or {}).get("validated_isas")


def warn_unvalidated(card: ModelCard, isa: str) -> None:
    """Print a warning (stdout) when ``card`` names the ISAs its INT8 settings hold on and
    ``isa`` is not among them: the run's accuracy gate is then the first check."""
    isas = validated_isas(card)
    if isas and isa not in isas:
        print(f"WARNING: {card.name}'s INT8 settings were validated on {', '.join(isas)} "
              f"kernels, not on this run's {isa} (ONEDNN_MAX_CPU_ISA="
              f"{max_cpu_isa() or 'unset'}): check the accuracy gate before trusting it",
              flush=True)


def _nncf_arguments(settings: dict[str, Any], overflow_fix: str = "first_layer_only"
                    ) -> dict[str, Any]:
    """Keyword arguments of ``nncf.quantize`` for :func:`card_settings` output and the
    overflow fix (:func:`isa_choice`); the accuracy-control call renames
    ``advanced_parameters``; ``ranking_subset_size`` is left to it."""
    import nncf
    from nncf.quantization.advanced_parameters import (AdvancedQuantizationParameters,
                                                       AdvancedSmoothQuantParameters,
                                                       OverflowFix)

    kwargs: dict[str, Any] = {}
    advanced: dict[str, Any] = {"overflow_fix": OverflowFix(overflow_fix)}
    if "preset" in settings:
        kwargs["preset"] = nncf.QuantizationPreset(settings["preset"])
    if "fast_bias_correction" in settings:
        kwargs["fast_bias_correction"] = settings["fast_bias_correction"]
    if "model_type" in settings:
        kwargs["model_type"] = nncf.ModelType(settings["model_type"])
    if "ignored_scope" in settings:
        # validate=True (NNCF's default): a name, pattern or type the model lacks is an error
        kwargs["ignored_scope"] = nncf.IgnoredScope(**settings["ignored_scope"])
    if "smooth_quant_alpha" in settings:
        alpha = settings["smooth_quant_alpha"]
        advanced["smooth_quant_alphas"] = AdvancedSmoothQuantParameters(convolution=alpha,
                                                                        matmul=alpha)
    kwargs["advanced_parameters"] = AdvancedQuantizationParameters(**advanced)
    return kwargs


def _validation_overlap(card: ModelCard, config: QuantizationConfig) -> bool:
    if config.validation_overlap is not None:
        return bool(config.validation_overlap)
    return bool((card.extra.get("quantization", {}) or {}).get("validation_overlap", False))


# --- calibration set -----------------------------------------------------------------------

@dataclass
class CalibrationSet:
    """The samples NNCF calibrates on.

    Attributes:
        dataset: the opened, prepared dataset they come from.
        indices: sample indices into ``dataset``.
        names: their file names where the dataset knows them.
        source: ``list``, ``seeded draw`` or ``synthetic``.
        list_file / list_sha256: the list file used, if any.
    """

    dataset: Any
    indices: list[int]
    names: list[str] | None
    source: str
    list_file: str | None = None
    list_sha256: str | None = None

    def identity(self) -> dict[str, Any]:
        """What decides the calibration statistics (for the cache key)."""
        desc = self.dataset.describe()
        return {"source": self.source, "dataset": {k: desc.get(k) for k in
                                                   ("kind", "path", "preprocessing_key",
                                                    "shape", "dtype", "seed")},
                "samples": self.names if self.names is not None else self.indices,
                "list_sha256": self.list_sha256}


def sample_names(dataset) -> list[str] | None:
    """File names of a dataset's samples in index order, when the reader exposes them."""
    fn = getattr(dataset, "sample_names", None)
    if callable(fn):
        return [str(n) for n in fn()]
    entries = getattr(dataset, "entries", None)
    if isinstance(entries, list) and entries and isinstance(entries[0], (tuple, list)):
        return [str(e[0]) for e in entries]
    return None


def read_list(path: Path) -> list[str]:
    """Sample names of a calibration list file (one per line; blank and ``#`` lines skipped).

    Raises:
        HarnessError: missing or empty file.
    """
    if not path.is_file():
        raise HarnessError(f"calibration list {path} does not exist")
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(line.split()[0])
    if not names:
        raise HarnessError(f"calibration list {path} names no samples")
    return names


def _count(card: ModelCard, config: QuantizationConfig) -> int:
    if config.calibration_count is not None:
        return int(config.calibration_count)
    return int(card.extra.get("quantization", {}).get("calibration_count",
                                                      DEFAULT_CALIBRATION_COUNT))


def calibration_set(card: ModelCard, config: QuantizationConfig,
                    dataset: str | None = None) -> CalibrationSet:
    """Open the dataset and pick the calibration samples ``config`` asks for.

    Args:
        card: the model card.
        config: the calibration settings.
        dataset: the calibration dataset folder (``config.calibration_dataset``, else the
            run's dataset); None: synthetic samples.

    Raises:
        HarnessError: a list naming images that do not exist or are not in the dataset (all
            named), a list with no dataset, or fewer samples than asked.
    """
    dataset = dataset or config.calibration_dataset
    count = _count(card, config)
    if dataset is None:
        if config.calibration_list:
            raise HarnessError("--calibration-list needs a dataset (DATASET=<folder>) to read "
                               "the listed images from")
        ds = open_dataset(card, None, count, synthetic_count=count)
        return CalibrationSet(ds, list(range(count)), None, "synthetic")
    ds = open_dataset(card, dataset, None, synthetic_count=0)
    names = sample_names(ds)
    if config.calibration_list:
        path = Path(config.calibration_list).expanduser().resolve()
        listed = read_list(path)
        root = Path(dataset)
        missing = [n for n in listed if not (root / n).is_file()]
        if missing:
            shown = "\n  ".join(missing[:20])
            raise HarnessError(f"calibration list {path} names {len(missing)} images missing "
                               f"from {root}:\n  {shown}"
                               + (f"\n  ... and {len(missing) - 20} more"
                                  if len(missing) > 20 else "")
                               + "\nFix the list or give another with --calibration-list.")
        if names is None:
            raise HarnessError(f"the {card.dataset} reader does not expose sample names, so a "
                               f"calibration list cannot be used with it; leave "
                               f"--calibration-list out for a seeded draw")
        index_of = {n: i for i, n in enumerate(names)}
        absent = [n for n in listed if n not in index_of]
        if absent:
            raise HarnessError(f"calibration list {path} names {len(absent)} images that are "
                               f"not in the dataset's list, e.g. {absent[:5]}")
        if count > len(listed):
            raise HarnessError(f"calibration set smaller than asked: {path} lists {len(listed)} "
                               f"images, {count} were asked (--calibration-count)")
        chosen = listed[:count]
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        ds.prepare()
        return CalibrationSet(ds, [index_of[n] for n in chosen], chosen, "list", str(path),
                              digest)
    if count > len(ds):
        raise HarnessError(f"calibration set smaller than asked: the dataset {dataset} "
                           f"holds {len(ds)} samples, {count} were asked "
                           f"(--calibration-count)")
    rng = np.random.default_rng(CALIBRATION_SEED)
    indices = sorted(int(i) for i in rng.choice(len(ds), size=count, replace=False))
    ds.prepare()
    return CalibrationSet(ds, indices, [names[i] for i in indices] if names else None,
                          f"seeded draw (numpy default_rng({CALIBRATION_SEED}))")


# --- quantization --------------------------------------------------------------------------

class _LogCapture(logging.Handler):
    """Collects NNCF's log messages (the accuracy-control report is only logged)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _reverted_layers(messages: list[str]) -> list[str]:
    """Layer names from NNCF's "... were reverted back to the floating-point precision" log."""
    out: list[str] = []
    for msg in messages:
        if "reverted back to the floating-point precision" in msg:
            lines = msg.split("precision:", 1)[1].splitlines()
            out.extend(line.strip() for line in lines if line.strip())
    return out


def _validation_fn(card: ModelCard, dataset, calls: list[dict[str, Any]], n_full: int):
    """NNCF's ``validation_fn(model, items) -> (metric, None)`` over :data:`VALIDATORS`;
    every call on the whole validation set (``n_full`` items) is appended to ``calls``
    (NNCF validates the FP32 model first, then the quantized one, then each candidate with
    layers restored; calls on ranking subsets are not recorded)."""
    if card.task not in VALIDATORS:
        raise HarnessError(f"accuracy-controlled quantization needs a validation metric for "
                           f"task '{card.task}'; known: {', '.join(VALIDATORS)}")
    fn = VALIDATORS[card.task]
    takes_card = "card" in inspect.signature(fn).parameters

    def validate(compiled_model, items) -> tuple[float, None]:
        indices = [int(i) for i in items]
        value = fn(compiled_model, dataset, indices, card=card) if takes_card else fn(
            compiled_model, dataset, indices)
        if len(indices) == n_full:
            calls.append({"samples": len(indices), "metric": float(value)})
        return float(value), None

    return validate


def versions() -> dict[str, str]:
    """NNCF and OpenVINO versions (part of the cache key and the manifest)."""
    import openvino as ov

    return {"nncf": metadata.version("nncf"), "openvino": ov.get_version()}


def int8_model(card: ModelCard, weights: Weights, config: QuantizationConfig | None = None,
               dataset: str | None = None, eval_count: int | None = None) -> Path:
    """The INT8 OpenVINO IR of ``card`` with ``weights`` (quantized once, then cached).

    Steps: check the inputs, choose the calibration and validation samples and the overflow
    fix for this run's INT8 kernels, key the cache on all of it, and (not cached) quantize
    with NNCF and record how (:func:`_quantize`, :func:`_build_info`).

    Args:
        card, weights: as for :func:`harness.backends.openvino.ir.fp32_model`.
        config: calibration settings (None: the defaults).
        dataset: the calibration dataset folder (None: ``config.calibration_dataset``; both
            None: synthetic samples).
        eval_count: samples the run evaluates (the first N of the dataset), for the overlap
            of accuracy control's validation set; None: all.

    Returns:
        Path of ``model.xml``; ``quantization.json`` beside it records the calibration set,
        overlap, settings, versions, the INT8 kernels it was built for and (accuracy control)
        the metric and reverted layers.

    Raises:
        HarnessError: bad calibration input (see :func:`calibration_set`), bad card settings
            (:func:`card_settings`), accuracy control without a labelled dataset or trained
            weights, an unknown ``ONEDNN_MAX_CPU_ISA``, or NNCF failing (e.g. an ignored name
            the model lacks).
    """
    config = config or QuantizationConfig()
    dataset = dataset or config.calibration_dataset
    _check_accuracy_control(config, dataset, weights)
    options = card_settings(card)
    choice = isa_choice(config)
    warn_unvalidated(card, choice["int8_isa"])
    cal = calibration_set(card, config, dataset)
    validation, overlap = _validation_samples(card, config, cal, eval_count)
    fp32_xml = ir.fp32_model(card, weights)
    vers = versions()
    settings = {"calibration": cal.identity(), "count": len(cal.indices),
                "max_accuracy_drop": config.max_accuracy_drop, "validation": validation,
                # what the ISA changes (the overflow fix), not the ISA: AMX and VNNI runs
                # share one INT8 model
                "overflow_fix": choice["overflow_fix"],
                "fp32_ir_sha256": hashlib.sha256(fp32_xml.with_suffix(".bin").read_bytes()
                                                 ).hexdigest()[:16], **vers}
    if options:  # only when set: cards without settings keep their cache entries
        settings["card_settings"] = options
    if overlap:
        settings["validation_overlap"] = True
    key = ir.cache_key(card, weights, "int8", quantization=settings)

    def build(tmp: Path):
        import openvino as ov

        info = _build_info(card, config, options, choice, cal, fp32_xml, vers)
        print(f"quantizing {card.name} to INT8 with NNCF ({info['method']}, "
              f"{len(cal.indices)} calibration samples, {cal.source}"
              + (f"; card settings {json.dumps(options)}" if options else "")
              + f"; overflow fix {choice['overflow_fix']} for {choice['int8_isa']} kernels)...",
              flush=True)
        model = ov.Core().read_model(str(fp32_xml))
        quantized, calls, messages = _quantize(model, card, config, options, choice, cal,
                                               validation)
        if config.max_accuracy_drop is not None:
            info["accuracy_control"] = _accuracy_control_info(config, validation, overlap,
                                                              calls, messages)
        (tmp / INFO_FILE).write_text(json.dumps(info, indent=2, default=str) + "\n")
        return quantized

    xml = ir.cached_ir(key, build, f"{card.name} INT8 ({weights.identity})")
    ac = read_info(xml).get("accuracy_control")
    if ac is not None:
        print(f"accuracy control: {len(ac['reverted_layers'])} layer(s) kept in floating "
              f"point: {', '.join(ac['reverted_layers']) or 'none'}", flush=True)
    return xml


def _check_accuracy_control(config: QuantizationConfig, dataset: str | None,
                            weights: Weights) -> None:
    """Accuracy control needs a labelled dataset and trained weights.

    Raises:
        HarnessError: either is missing (naming the fix).
    """
    if config.max_accuracy_drop is None:
        return
    if dataset is None:
        raise HarnessError("--max-accuracy-drop needs a labelled dataset (DATASET=...) to "
                           "validate on")
    if not weights.trained:
        raise HarnessError("--max-accuracy-drop needs trained weights: the accuracy of "
                           "random weights is meaningless")


def _validation_samples(card: ModelCard, config: QuantizationConfig, cal: CalibrationSet,
                        eval_count: int | None) -> tuple[list[int], bool]:
    """Accuracy control's validation samples and whether they overlap the evaluated ones:
    held out (samples not in the calibration set) by default, the first evaluated samples
    when validation_overlap is asked for; ``([], False)`` without accuracy control.

    Raises:
        HarnessError: too few samples for the validation count asked.
    """
    if config.max_accuracy_drop is None:
        return [], False
    if _validation_overlap(card, config):  # validate on the samples the run evaluates
        evaluated = list(range(min(eval_count or len(cal.dataset), len(cal.dataset))))
        n_val = config.validation_count or len(evaluated)
        if n_val < 1 or n_val > len(evaluated):
            raise HarnessError(f"--validation-count {n_val}: the run evaluates "
                               f"{len(evaluated)} samples")
        print(f"NOTE: accuracy control validates on {n_val} of the evaluated samples "
              f"(validation overlaps evaluation, asked for by validation_overlap): the reported "
              f"accuracy is then not independent of the quantization choices.", flush=True)
        return evaluated[:n_val], True
    held_out = sorted(set(range(len(cal.dataset))) - set(cal.indices))
    n_val = config.validation_count or min(DEFAULT_VALIDATION_COUNT, len(held_out))
    if n_val < 1 or n_val > len(held_out):
        raise HarnessError(f"accuracy control needs held-out samples: {len(held_out)} "
                           f"samples are not used for calibration, {n_val} asked "
                           f"(a small dataset may validate on the evaluated samples "
                           f"instead: validation_overlap = true in the card's "
                           f"[quantization], or --validation-overlap)")
    return held_out[:n_val], False


def _build_info(card: ModelCard, config: QuantizationConfig, options: dict[str, Any],
                choice: dict[str, Any], cal: CalibrationSet, fp32_xml: Path,
                vers: dict[str, str]) -> dict[str, Any]:
    """The ``quantization.json`` record of a build, before NNCF runs."""
    preset = options.get("preset", "performance")
    return {
        "method": "nncf.quantize" if config.max_accuracy_drop is None
        else "nncf.quantize_with_accuracy_control",
        "preset": preset + (" (symmetric INT8)" if preset == "performance"
                            else " (symmetric weights, asymmetric activations)"),
        "card_settings": options, "fp32_ir": str(fp32_xml),
        # the kernels of the run that built it; runs that reuse it record their own
        "built_for": {**choice, "validated_isas": validated_isas(card)},
        "calibration": {"source": cal.source, "count": len(cal.indices),
                        "list_file": cal.list_file, "list_sha256": cal.list_sha256,
                        "seed": CALIBRATION_SEED if "seeded" in cal.source
                        or cal.source == "synthetic" else None,
                        "dataset": cal.dataset.describe(),
                        "indices": cal.indices, "names": cal.names},
        **vers}


def _quantize(model, card: ModelCard, config: QuantizationConfig, options: dict[str, Any],
              choice: dict[str, Any], cal: CalibrationSet, validation: list[int]):
    """Run NNCF on ``model`` (an ``ov.Model``): ``nncf.quantize``, or
    ``nncf.quantize_with_accuracy_control`` with ``--max-accuracy-drop``.

    Returns:
        ``(quantized ov.Model, full validation passes [{"samples", "metric"}], NNCF's log
        messages)``.

    Raises:
        HarnessError: NNCF failing (its error, shortened).
    """
    import nncf

    calib = nncf.Dataset(cal.indices, lambda i: cal.dataset.load_sample(int(i)))
    kwargs = _nncf_arguments(options, choice["overflow_fix"])
    calls: list[dict[str, Any]] = []
    capture = _LogCapture()
    nncf_logger = logging.getLogger("nncf")
    nncf_logger.addHandler(capture)
    try:
        if config.max_accuracy_drop is None:
            quantized = nncf.quantize(model, calib, subset_size=len(cal.indices), **kwargs)
        else:
            from nncf.quantization.advanced_parameters import \
                AdvancedAccuracyRestorerParameters

            kwargs["advanced_quantization_parameters"] = kwargs.pop("advanced_parameters")
            restorer = AdvancedAccuracyRestorerParameters(
                ranking_subset_size=options.get("ranking_subset_size"))
            val = nncf.Dataset(validation, lambda i: cal.dataset.load_sample(int(i)))
            quantized = nncf.quantize_with_accuracy_control(
                model, calib, val, _validation_fn(card, cal.dataset, calls, len(validation)),
                max_drop=config.max_accuracy_drop, drop_type=nncf.DropType.RELATIVE,
                subset_size=len(cal.indices), advanced_accuracy_restorer_parameters=restorer,
                **kwargs)
    except HarnessError:
        raise
    except Exception as exc:
        raise HarnessError(f"NNCF could not quantize {card.name}: "
                           f"{exc.__class__.__name__}: {shorten(exc, 400)}") from exc
    finally:
        nncf_logger.removeHandler(capture)
    return quantized, calls, capture.messages


def _accuracy_control_info(config: QuantizationConfig, validation: list[int], overlap: bool,
                           calls: list[dict[str, Any]], messages: list[str]) -> dict[str, Any]:
    """The ``accuracy_control`` part of ``quantization.json``: bound, validation samples,
    reverted layers and the metric of each full validation pass."""
    return {
        "max_drop": config.max_accuracy_drop, "drop_type": "relative",
        "validation_count": len(validation),
        "validation_overlaps_evaluation": overlap,
        "validation_samples": (
            f"validation overlaps evaluation: the first {len(validation)} samples, "
            f"which the run evaluates (validation_overlap)") if overlap else
        "held out: dataset samples not in the calibration set",
        "reverted_layers": _reverted_layers(messages),
        # full validation passes in order: FP32 model, quantized model, then each
        # candidate with layers restored to floating point (the last is the result)
        "validation_metrics": calls,
        "fp32_metric": calls[0]["metric"] if calls else None,
        "int8_metric_before_restoring": calls[1]["metric"] if len(calls) > 1 else None,
        "final_metric": calls[-1]["metric"] if len(calls) > 1 else None,
        "log": [m for m in messages
                if any(w in m for w in ("ccuracy", "metric", "reverted", "Algorithm completed"))]}


def read_info(xml: Path | str) -> dict[str, Any]:
    """The ``quantization.json`` beside a cached INT8 IR (empty dict when absent)."""
    path = Path(xml).parent / INFO_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


def run_facts(xml: Path | str, eval_count: int | None) -> dict[str, Any]:
    """What the run manifest records about an INT8 model: its build info plus how many
    calibration samples the run also evaluates (it evaluates the first ``eval_count``
    samples of the dataset; None: all)."""
    info = read_info(xml)
    # the kernels this run computes with (the model may have been built by a run on others)
    info["run_int8_isa"] = int8_isa()
    info["run_onednn_max_cpu_isa"] = max_cpu_isa()
    cal = info.get("calibration", {})
    indices = cal.get("indices") or []
    if cal.get("source") == "synthetic":
        info["overlap"] = {"overlapping": 0, "note": "synthetic calibration data"}
        return info
    k = sum(1 for i in indices if eval_count is None or i < eval_count)
    info["overlap"] = {
        "overlapping": k, "evaluated": eval_count,
        "note": (f"calibration and evaluation samples overlap: {k} of {len(indices)} "
                 f"calibration samples are evaluated too (unavoidable with a small sample such "
                 f"as the 1000-image ImageNet sample; the official calibration set is "
                 f"disjoint from the validation set)") if k else
        "calibration and evaluation samples are disjoint"}
    ac = info.get("accuracy_control") or {}
    if ac.get("validation_overlaps_evaluation"):
        info["overlap"]["validation_overlapping"] = ac.get("validation_count")
        info["overlap"]["validation_note"] = (
            f"validation overlaps evaluation: accuracy control validated on "
            f"{ac.get('validation_count')} of the evaluated samples (validation_overlap)")
    return info


__all__ = ["CARD_KEYS", "QuantizationConfig", "VALIDATORS", "card_settings", "int8_model",
           "calibration_set", "read_info", "run_facts"]
