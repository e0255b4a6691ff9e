"""Build the train/validation/test splits from the labelled sources.

    python -m ml.data.build_splits [--sources ml/data/sources] [--out ml/data] [--seed 13]

Reads every ``ml/data/sources/*.jsonl`` (lines ``{"text", "label", "source"}``, and for a
real document's sentence its section ``heading`` and ``previous`` sentence) and writes
``train.jsonl``, ``validation.jsonl`` and ``test.jsonl`` (80/10/10, stratified by label,
fixed seed) next to it. On the way:

- text is stripped of surrounding whitespace; empty texts are dropped;
- a label outside ``service.analysis.labels.LABELS``, a line that is not JSON or a line
  without ``text``/``label`` rejects its whole file: the build stops and names each bad line
  (``--skip-invalid-files`` builds from the other files instead, still naming them);
- exact duplicates (case- and whitespace-insensitive) are kept once; when copies disagree on
  the label, every copy is dropped and printed, since neither label can be trusted;
- near-duplicates are grouped, and a group always lands in one split, so that the test split
  does not contain a sentence the model has seen with a number or a word changed. Two texts
  are near-duplicates when they are equal once digits, punctuation and case are removed, or
  when the Jaccard similarity of their character 5-gram sets reaches ``--jaccard``.

Prints the number of sentences per label per split as a Markdown table on stdout (for the
datasheet); everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from service.analysis.labels import LABELS

DATA_DIR = Path(__file__).resolve().parent
SPLIT_NAMES: tuple[str, ...] = ("train", "validation", "test")
SPLIT_FRACTIONS: tuple[float, ...] = (0.8, 0.1, 0.1)
DEFAULT_SEED = 13
DEFAULT_JACCARD = 0.7
SHINGLE_SIZE = 5


class InvalidSourceError(ValueError):
    """A source file has lines that cannot be used; ``problems`` names each one."""

    def __init__(self, path: Path, problems: list[str]):
        self.path = path
        self.problems = problems
        listed = "\n  ".join(problems[:20])
        more = f"\n  … and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{path}: rejected, {len(problems)} bad line(s):\n  {listed}{more}")


class SourcesRejectedError(ValueError):
    """At least one source file was rejected and the build was asked to stop for it."""


@dataclass(frozen=True, slots=True)
class LabelledSentence:
    text: str
    label: str
    source: str
    # Where a real document's sentence stood, for a model that reads context (ml.train);
    # None for sentences written or collected one by one.
    heading: str | None = None
    previous: str | None = None


# ---------------------------------------------------------------------------------------
# Reading


def read_source_file(path: Path) -> list[LabelledSentence]:
    """The labelled sentences of one source file; raises InvalidSourceError on any bad line."""
    sentences: list[LabelledSentence] = []
    problems: list[str] = []
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                problems.append(f"line {number}: not JSON ({error.msg})")
                continue
            if not isinstance(record, dict):
                problems.append(f"line {number}: not a JSON object")
                continue
            text, label = record.get("text"), record.get("label")
            if not isinstance(text, str):
                problems.append(f"line {number}: no text")
                continue
            if label not in LABELS:
                problems.append(f"line {number}: label {label!r} is not one of {', '.join(LABELS)}")
                continue
            text = text.strip()
            if text:
                source = record.get("source") or path.stem
                heading, previous = record.get("heading"), record.get("previous")
                if isinstance(heading, str) and isinstance(previous, str):
                    sentences.append(LabelledSentence(text, label, str(source), heading, previous))
                else:
                    sentences.append(LabelledSentence(text, label, str(source)))
    if problems:
        raise InvalidSourceError(path, problems)
    return sentences


def read_sources(sources_dir: Path, *, skip_invalid_files: bool = False) -> list[LabelledSentence]:
    """All sentences of ``sources_dir/*.jsonl``, in file-name order."""
    paths = sorted(sources_dir.glob("*.jsonl"))
    if not paths:
        raise FileNotFoundError(f"no *.jsonl files in {sources_dir}")
    sentences: list[LabelledSentence] = []
    rejected: list[InvalidSourceError] = []
    for path in paths:
        try:
            file_sentences = read_source_file(path)
        except InvalidSourceError as error:
            rejected.append(error)
            continue
        log(f"{path.name}: {len(file_sentences)} sentences")
        sentences.extend(file_sentences)
    for error in rejected:
        log(f"REJECTED {error}")
    if rejected and not skip_invalid_files:
        names = ", ".join(error.path.name for error in rejected)
        raise SourcesRejectedError(
            f"source file(s) rejected: {names} (see above); fix them, or pass "
            "--skip-invalid-files to build from the other files")
    return sentences


# ---------------------------------------------------------------------------------------
# Duplicates


def exact_key(text: str) -> str:
    """Case- and whitespace-insensitive identity of a text."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


_NOT_LETTER = re.compile(r"[\W\d_]+")


def letters_key(text: str) -> str:
    """The text's words with digits, punctuation and case removed ("Q3: 12 days" → "q days")."""
    return " ".join(_NOT_LETTER.sub(" ", exact_key(text)).split())


def drop_exact_duplicates(
    sentences: list[LabelledSentence],
) -> tuple[list[LabelledSentence], int, dict[str, list[LabelledSentence]]]:
    """Keep the first copy of each text; drop every copy of texts whose labels disagree.

    Returns (kept, number of redundant copies dropped, {key: copies} of the conflicts).
    """
    copies: dict[str, list[LabelledSentence]] = defaultdict(list)
    for sentence in sentences:
        copies[exact_key(sentence.text)].append(sentence)
    kept: list[LabelledSentence] = []
    conflicts: dict[str, list[LabelledSentence]] = {}
    redundant = 0
    for key, group in copies.items():
        if len({s.label for s in group}) > 1:
            conflicts[key] = group
        else:
            kept.append(group[0])
            redundant += len(group) - 1
    return kept, redundant, conflicts


class _DisjointSets:
    def __init__(self, size: int):
        self.parent = list(range(size))

    def find(self, item: int) -> int:
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a: int, b: int) -> None:
        root_a, root_b = self.find(a), self.find(b)
        if root_a != root_b:
            self.parent[max(root_a, root_b)] = min(root_a, root_b)


def near_duplicate_groups(texts: list[str], *, jaccard: float = DEFAULT_JACCARD) -> list[int]:
    """A group id for each text; near-duplicates (see module docstring) share one.

    Exact: the Jaccard similarity of character 5-gram sets, computed as a sparse matrix
    product in blocks of rows (a few seconds for 10,000 texts).
    """
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer

    sets = _DisjointSets(len(texts))
    first_with_key: dict[str, int] = {}
    for index, text in enumerate(texts):
        first = first_with_key.setdefault(letters_key(text) or exact_key(text), index)
        sets.union(first, index)

    if len(texts) > 1 and jaccard <= 1.0:
        shingles = CountVectorizer(
            analyzer="char", ngram_range=(SHINGLE_SIZE, SHINGLE_SIZE), binary=True,
            preprocessor=exact_key, dtype=np.float32,
        ).fit_transform(texts).tocsr()
        sizes = np.asarray(shingles.sum(axis=1)).ravel()
        transposed = shingles.T.tocsc()
        block = 1024
        for start in range(0, len(texts), block):
            stop = min(start + block, len(texts))
            shared = (shingles[start:stop] @ transposed).toarray()
            union = sizes[start:stop, None] + sizes[None, :] - shared
            similar = shared >= jaccard * np.maximum(union, 1)
            rows, columns = np.nonzero(similar)
            for row, column in zip(rows + start, columns):
                if column > row and sizes[row] > 0 and sizes[column] > 0:
                    sets.union(int(row), int(column))
    return [sets.find(index) for index in range(len(texts))]


# ---------------------------------------------------------------------------------------
# Splitting


def stratified_group_split(
    labels: list[str], groups: list[int], *, seed: int = DEFAULT_SEED,
    fractions: tuple[float, ...] = SPLIT_FRACTIONS,
) -> list[int]:
    """A split index (0 train, 1 validation, 2 test) for each item; a group stays together.

    Groups are stratified by their most common label: within each label, groups are shuffled
    with ``seed`` and each goes to the split furthest below its share of that label.
    """
    members: dict[int, list[int]] = defaultdict(list)
    for index, group in enumerate(groups):
        members[group].append(index)
    groups_by_label: dict[str, list[int]] = defaultdict(list)
    for group, indices in members.items():
        majority = Counter(labels[i] for i in indices).most_common(1)[0][0]
        groups_by_label[majority].append(group)

    rng = random.Random(seed)
    assignment = [0] * len(labels)
    for label in sorted(groups_by_label, key=lambda lab: LABELS.index(lab)):
        label_groups = sorted(groups_by_label[label])
        rng.shuffle(label_groups)
        # Big groups first, so that small ones can even out the shares afterwards.
        label_groups.sort(key=lambda g: len(members[g]), reverse=True)
        total = sum(len(members[g]) for g in label_groups)
        filled = [0] * len(fractions)
        for group in label_groups:
            size = len(members[group])
            # The split whose share stays furthest below target once this group is added.
            split = min(
                range(len(fractions)),
                key=lambda s: ((filled[s] + size) / (fractions[s] * total), s),
            )
            filled[split] += size
            for index in members[group]:
                assignment[index] = split
    return assignment


def label_count_table(splits: dict[str, list[LabelledSentence]]) -> str:
    """Sentences per label per split as a Markdown table."""
    counts = {name: Counter(s.label for s in rows) for name, rows in splits.items()}
    header = "| label | " + " | ".join(splits) + " | total |"
    rule = "|---|" + "---:|" * (len(splits) + 1)
    lines = [header, rule]
    for label in LABELS:
        row = [counts[name][label] for name in splits]
        lines.append(f"| `{label}` | " + " | ".join(map(str, row)) + f" | {sum(row)} |")
    totals = [len(rows) for rows in splits.values()]
    lines.append("| **total** | " + " | ".join(map(str, totals)) + f" | {sum(totals)} |")
    return "\n".join(lines)


def write_jsonl(path: Path, sentences: list[LabelledSentence]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for sentence in sentences:
            record = {"text": sentence.text, "label": sentence.label, "source": sentence.source}
            if sentence.heading is not None:
                record.update(heading=sentence.heading, previous=sentence.previous)
            out.write(json.dumps(record, ensure_ascii=False) + "\n")


def build_splits(
    sources_dir: Path, out_dir: Path, *, seed: int = DEFAULT_SEED,
    jaccard: float = DEFAULT_JACCARD, skip_invalid_files: bool = False,
) -> dict[str, list[LabelledSentence]]:
    """Read, clean, group and split the sources; write the three split files; return them."""
    sentences = read_sources(sources_dir, skip_invalid_files=skip_invalid_files)
    kept, redundant, conflicts = drop_exact_duplicates(sentences)
    log(f"{len(sentences)} sentences read; {redundant} exact duplicate copies dropped")
    if conflicts:
        log(f"{len(conflicts)} texts dropped because their copies disagree on the label:")
        for group in conflicts.values():
            labels = ", ".join(f"{s.label} ({s.source})" for s in group)
            log(f"  {group[0].text!r}: {labels}")

    groups = near_duplicate_groups([s.text for s in kept], jaccard=jaccard)
    group_sizes = Counter(groups)
    grouped = sum(size for size in group_sizes.values() if size > 1)
    log(f"{len(group_sizes)} groups; {grouped} sentences are in "
        f"{sum(1 for size in group_sizes.values() if size > 1)} near-duplicate groups")

    assignment = stratified_group_split([s.label for s in kept], groups, seed=seed)
    splits: dict[str, list[LabelledSentence]] = {name: [] for name in SPLIT_NAMES}
    for sentence, split in zip(kept, assignment):
        splits[SPLIT_NAMES[split]].append(sentence)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    for name, rows in splits.items():
        rng.shuffle(rows)  # no file order by source or label
        write_jsonl(out_dir / f"{name}.jsonl", rows)
        log(f"wrote {out_dir / f'{name}.jsonl'}: {len(rows)} sentences")
    return splits


def log(message: str) -> None:
    print(message, file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ml.data.build_splits", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=Path, default=DATA_DIR / "sources",
                        help="folder of *.jsonl source files (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DATA_DIR,
                        help="where train/validation/test.jsonl go (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--jaccard", type=float, default=DEFAULT_JACCARD,
                        help="character 5-gram Jaccard similarity from which two texts are "
                             "near-duplicates (default: %(default)s; above 1 turns it off)")
    parser.add_argument("--skip-invalid-files", action="store_true",
                        help="build from the valid files when some are rejected")
    args = parser.parse_args(argv)
    try:
        splits = build_splits(args.sources, args.out, seed=args.seed, jaccard=args.jaccard,
                              skip_invalid_files=args.skip_invalid_files)
    except (SourcesRejectedError, FileNotFoundError) as error:
        log(f"error: {error}")
        return 1
    print(label_count_table(splits))
    return 0


if __name__ == "__main__":
    sys.exit(main())
