"""A new version from users' corrections, fine-tuned from a model's current weights:

    python -m ml.finetune --base models_cache/<version> --corrections FILE.jsonl --version NAME
                          [--reader models_cache/<reader> --reader-version NAME]
                          [--replay 2000] [--epochs 2] [--no-documents]
    python -m ml.finetune --request REQUEST.json --result RESULT.json

The second is what the service's trainings run (service/serving/trainings.py starts it as a
process of its own: the service imports nothing of ml/): the same settings as one typed file,
and how it ended as another (service/analysis/finetune_files.py), the result written however
it ends but a SIGKILL. Either runs on the same code as ``python -m ml.train
--corrections``: ml/correction_rows.py decides which corrections are learnt, ml/train.py's Trainer
fits, saves, measures and writes the card. Here it starts from the base version's folder
(its weights, head and tokenizer) instead of the bare encoder, with the base's own recipe
(context, length), and replays a stratified sample of the training data so that what the
base knew is not forgotten. A correction row may carry ``context``, what the scan's model
read beside the sentence (its heading and the sentence before): the corrections are then
learnt as the scan saw them.

A cascade's reader is fine-tuned the same way, on the same corrections, then fitted behind the
new fast model as ``python -m ml.cascade`` fits one (its int8 graph, its screen): a reader
serves only behind the fast model its screen was chosen on. The version folders appear
complete or not at all: Trainer stages each, and the base's figures are added to its
metrics.json and card before they leave a work folder of their own, together.

Where the rows say which sentences a model reported (``shown``: the findings people confirmed
or dismissed), the score map of the model whose score users see (the reader of a cascade,
else the fast model) is refitted on them (ml/deployment_map.py), so that a score means how
often the model is right in this deployment; below ``MIN_DEPLOYMENT_FINDINGS`` it is kept.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

from ml import deployment_map
from ml.correction_rows import InvalidCorrectionsError
from ml.data.build_splits import exact_key
from ml.recipe import DEV_DOCUMENTS, REPO_ROOT, TEST_DOCUMENTS, TrainingConfig
from ml.splits import LabelledSplit
from ml.train import Trainer, log
from service.analysis.finetune_files import FinetuneFileError, FinetuneRequest, FinetuneResult
from service.analysis.model_folder import METRICS_JSON, ModelFolder, publish

#: The suffix of a training's staging folder in the models root (``.<version>.<pid>``).
STAGING = ".training"
#: The fields of the base's recipe a fine-tuning keeps (how its model reads, max_length and
#: context, comes from its folder's ModelSpec: a model reads what it was trained on).
KEPT = ("borrowed_context", "borrowing", "class_weighting",
        "freeze_word_embeddings", "dropout", "label_smoothing", "document_weight",
        "correction_weight", "batch_size", "eval_batch_size")


class CorrectionsTrainer(Trainer):
    """Trainer whose corrections keep the context their scan read them in (``contexts``,
    by the sentence's exact_key); one without stays a sentence alone, as in ml.train."""

    def __init__(self, config: TrainingConfig, contexts: dict[str, str]):
        super().__init__(config)
        self.contexts = contexts

    def add_corrections(self, splits: dict[str, LabelledSplit]) -> LabelledSplit:
        split = super().add_corrections(splits)
        learnt = len(self.corrections.texts)
        if not learnt:
            return split
        contexts = split.contexts[:-learnt] + [self.contexts.get(exact_key(text), "")
                                               for text in self.corrections.texts]
        return dataclasses.replace(split, contexts=contexts)


def split_corrections(source: Path, plain: Path, reviewed: list[dict] | None = None
                   ) -> dict[str, str]:
    """Write ``source``'s rows (``-``: the standard input, as the service sends them)
    without their ``context`` and ``shown`` to ``plain`` (what ml/correction_rows.py reads and
    checks), readable by its owner only: people's sentences. The contexts by sentence;
    ``reviewed`` gets each row that says whether a model reported it (``shown``), with its
    context: the findings the score map is refitted on (ml/deployment_map.py)."""
    text = sys.stdin.read() if str(source) == "-" else source.read_text(encoding="utf-8")
    contexts, lines = {}, []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as failure:
            raise InvalidCorrectionsError(f"{source}:{number}: not JSON ({failure.msg})") from None
        context = None
        if isinstance(row, dict) and "context" in row:
            context = row.pop("context")
            if isinstance(context, str) and context and isinstance(row.get("text"), str):
                contexts[exact_key(row["text"].strip())] = context
        if isinstance(row, dict) and "shown" in row:
            shown = row.pop("shown")
            if reviewed is not None and isinstance(row.get("text"), str):
                reviewed.append({"text": row["text"].strip(), "label": row.get("label"),
                                 "context": context if isinstance(context, str) else "",
                                 "shown": shown is True})
        lines.append(json.dumps(row, ensure_ascii=False))
    with os.fdopen(os.open(plain, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w",
                   encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")
    return contexts


def finetune_config(base: Path, work: Path, version: str, corrections: Path, *,
                    replay: int, epochs: int, learning_rate: float, documents: bool,
                    data_dir: Path | None = None, seed: int = 13) -> TrainingConfig:
    """The run: the base's recipe (KEPT), its folder as the weights to start from, the
    replayed sample, and the documents measured unless ``documents`` is False."""
    folder = ModelFolder(base)
    spec = folder.spec()  # UnknownInputMode for a base that reads in a retired mode
    recipe = folder.training()
    kept = {key: recipe[key] for key in KEPT if key in recipe}
    return TrainingConfig(
        **kept, context=spec.input_mode.pairs, max_length=spec.max_length,
        data_dir=data_dir or REPO_ROOT / "ml" / "data", output_root=work,
        version=version, encoder_dir=base, epochs=epochs, learning_rate=learning_rate,
        warmup_ratio=0.1, corrections=corrections, seed=seed, max_train_examples=replay,
        # The replayed sample stands for the base's data, every row of it each epoch.
        set_current=False, corpus=None, written_share=1.0,
        calibration_documents=DEV_DOCUMENTS if documents else None,
        test_documents=TEST_DOCUMENTS if documents else None)


def finetune(base: Path, corrections: Path, version: str, *, replay: int = 2000,
             epochs: int = 2, learning_rate: float = 5e-5, documents: bool = True,
             data_dir: Path | None = None, reader: Path | None = None,
             reader_version: str | None = None, private: Path | None = None) -> list[Path]:
    """Fine-tune ``base`` on ``corrections`` into ``base.parent / version``, and the ``reader``
    (a cascade's, beside it in the models root) into ``reader_version`` fitted behind it: the
    new folders. Both are trained and fitted in a work folder and renamed into the root at
    the end, so a failure leaves neither. The corrections as training reads them (people's
    sentences) go to a folder of their own in ``private`` (default: the system's temporary
    folder), never into the models root: the service names its own private folder, which it
    removes even after a SIGKILL."""
    root = base.parent
    names = [version] + ([reader_version] if reader is not None else [])
    for name in names:
        if (root / name).exists():
            raise SystemExit(f"{root / name} already exists: versions are never overwritten")
    sweep(root)
    work = root / f".{version}.{os.getpid()}{STAGING}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(mode=0o700)
    own = Path(tempfile.mkdtemp(prefix="finetune-", dir=private))  # its owner's only
    try:
        plain = own / "corrections.jsonl"
        told: list[dict] = []
        contexts = split_corrections(corrections, plain, told)
        starts = [base, reader][:len(names)]
        configs = [finetune_config(start, work, name, plain, replay=replay, epochs=epochs,
                                   learning_rate=learning_rate, documents=documents,
                                   data_dir=data_dir) for start, name in zip(starts, names)]
        folders = []
        for start, config in zip(starts, configs):
            folder = CorrectionsTrainer(config, contexts).train()
            beside_base(folder, start)
            folders.append(folder)
        if reader is not None:  # its int8 graph and screen, chosen on the development documents
            fit_behind(folders[1], folders[0], documents=documents)
        if told:  # the service said which rows were findings: the shown score's model
            refitted = deployment_map.refit(folders[-1], deployment_map.reviewed(told),
                                            scores_from=starts[-1])
            log(f"score map of {folders[-1].name}: " + (
                "refitted on" if refitted["refitted"] else "kept;")
                + f" {refitted['deployment_findings']} reviewed findings")
        for folder in folders:
            publish(folder, root / folder.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(own, ignore_errors=True)
    log(f"wrote {', '.join(names)} in {root}, fine-tuned from "
        f"{' and '.join(start.name for start in starts)}")
    return [root / name for name in names]


def fit_behind(reader: Path, fast: Path, *, documents: bool) -> None:
    """The new reader's int8 graph and screen, chosen behind the new fast model as
    ``python -m ml.cascade`` chooses them (on the development documents; the test documents'
    shares too when ``documents``)."""
    from ml import cascade

    screen = cascade.fit(fast, reader, dev_path=DEV_DOCUMENTS,
                         test_path=TEST_DOCUMENTS if documents else None)
    cascade.write_screen(reader, screen)
    log(cascade.precision(screen))


def sweep(root: Path) -> list[Path]:
    """Remove the staging folders of trainings whose process is gone (killed before its own
    cleanup ran): they hold people's sentences and half a model. The ones removed."""
    removed = []
    for folder in root.glob(f".*{STAGING}"):
        pid = folder.name.removesuffix(STAGING).rsplit(".", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)) and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def beside_base(folder: Path, base: Path) -> None:
    """The base's figures in the new version's metrics.json (``base``) and card."""
    new_folder = ModelFolder(folder)
    metrics, base_metrics = new_folder.metrics(), ModelFolder(base).metrics()
    metrics["base"] = {"version": base.name, **{
        key: base_metrics[key] for key in ("validation", "test", "documents")
        if key in base_metrics}}
    new_folder.write_json(METRICS_JSON, metrics)
    rows = []
    for split in ("validation", "test"):
        new = (metrics.get(split) or {}).get("macro_f1")
        old = (base_metrics.get(split) or {}).get("macro_f1")
        rows.append(f"| {split} sentences, macro-F1 | {_figure(old)} | {_figure(new)} |")
    for name in ("dev", "test"):
        new = ((metrics.get("documents") or {}).get(name) or {}).get("overall") or {}
        old = ((base_metrics.get("documents") or {}).get(name) or {}).get("overall") or {}
        for key in ("precision", "recall"):
            rows.append(f"| {name} documents, {key} | {_figure(old.get(key))} | "
                        f"{_figure(new.get(key))} |")
    new_folder.write_card_section("Beside its base", (
        f"Fine-tuned from `{base.name}` on users' corrections (`python -m ml.finetune`).\n\n"
        f"| figure | {base.name} | this model |\n|---|---|---|\n" + "\n".join(rows)))


def _figure(value) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) else "–"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.finetune",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--request", type=Path, default=None,
                        help="the training as a JSON file (FinetuneRequest, "
                             "service/analysis/finetune_files.py), instead of the flags below: "
                             "what the service runs")
    parser.add_argument("--result", type=Path, default=None,
                        help="where to write how it ended (FinetuneResult, JSON): the versions "
                             "made, or why not; written however it ends but a SIGKILL")
    parser.add_argument("--base", type=Path, help="the version folder to start from")
    parser.add_argument("--corrections", type=Path,
                        help="the corrections: ml/correction_rows.py's rows, each with an optional "
                             "context (-: the standard input)")
    parser.add_argument("--version", help="the new version folder's name")
    parser.add_argument("--replay", type=int,
                        help="sentences of the training data replayed beside the corrections "
                             "(default 2000)")
    parser.add_argument("--epochs", type=int, help="(default 2)")
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--data-dir", type=Path,
                        help="train/validation/test.jsonl (default: ml/data)")
    parser.add_argument("--documents", action=argparse.BooleanOptionalAction,
                        help="calibrate on, and measure, the development and test documents "
                             "(default: on)")
    parser.add_argument("--reader", type=Path,
                        help="a reader's folder to fine-tune too, and fit behind the new model")
    parser.add_argument("--reader-version", help="the new reader's folder name")
    args = parser.parse_args(argv)
    flags = [name for name in REQUEST_FLAGS if getattr(args, name) is not None]
    if args.request is not None and flags:
        parser.error(f"--request replaces {', '.join('--' + name.replace('_', '-') for name in flags)}")
    if args.request is None and None in (args.base, args.corrections, args.version):
        parser.error("--request FILE, or --base, --corrections and --version")
    if (args.reader is None) != (args.reader_version is None):
        parser.error("--reader and --reader-version go together")
    # A SIGTERM (a service stopping, an operator) unwinds like an error, so that the staging
    # folder's cleanup runs and the result says so; a SIGKILL leaves no result, and its
    # staging folder goes at the next training's sweep.
    signal.signal(signal.SIGTERM, _terminated)
    code, result = _run(args)
    if args.result is not None:
        try:
            result.write(args.result)
        except OSError as error:
            print(f"error: the result could not be written ({error})", file=sys.stderr)
            return code or 1
    return code


#: The flags a request file replaces (its fields, by other names).
REQUEST_FLAGS = ("base", "corrections", "version", "replay", "epochs", "data_dir", "documents",
                 "reader", "reader_version")


def _run(args) -> tuple[int, FinetuneResult]:
    """The training the request file or the flags ask for: its exit status and result. A
    failure is said in one line on stderr too, for a person at a terminal."""
    try:
        if args.request is not None:
            request = FinetuneRequest.read(args.request)
        else:
            request = FinetuneRequest(
                base=args.base, reader=args.reader,
                versions=(args.version,) + ((args.reader_version,) if args.reader else ()),
                replay=2000 if args.replay is None else args.replay,
                epochs=2 if args.epochs is None else args.epochs,
                documents=args.documents is not False, data_dir=args.data_dir,
                rows=args.corrections)
        made = finetune(request.base, request.rows, request.versions[0],
                        replay=request.replay, epochs=request.epochs,
                        learning_rate=args.learning_rate, documents=request.documents,
                        data_dir=request.data_dir, reader=request.reader,
                        reader_version=request.versions[1] if request.reader else None,
                        private=args.request.parent if args.request is not None else None)
    except (InvalidCorrectionsError, FinetuneFileError) as error:
        return _failed(2, str(error))
    except KeyboardInterrupt:
        return _failed(130, "stopped by SIGINT")
    except SystemExit as stop:
        if stop.code in (None, 0):
            raise
        return _failed(1, str(stop.code))
    except Exception as error:  # noqa: BLE001 - said in the result, in one line
        return _failed(1, f"{type(error).__name__}: {error}")
    return 0, FinetuneResult.made(folder.name for folder in made)


def _failed(code: int, reason: str) -> tuple[int, FinetuneResult]:
    print(f"error: {reason}", file=sys.stderr)
    return code, FinetuneResult.failed(reason)


def _terminated(signum, _frame):
    raise SystemExit(f"stopped by {signal.Signals(signum).name}")


if __name__ == "__main__":
    sys.exit(main())
