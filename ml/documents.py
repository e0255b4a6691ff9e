"""Document-level evaluation: what a user of the service sees, finding by finding.

A documents file is JSONL of ``{id, text, risks: [{sentence, category, start?, end?}],
genre?}``: a real document and the sentences of it that state a risk. Each document goes
through ``TransformerAnalyzer.analyze`` (segmentation, the heading rule, the classifier:
the scan path of the API) once at ``min_score=0``, so that every operating point can be
read off the same scores: the findings at ``t`` are exactly those scored ``≥ t``.

A finding is right when it covers at least half of a gold risk's sentence (each gold risk
matched once: a fragment of a sentence cut by a line break does not count as finding it);
precision is over findings, recall over gold risks, category accuracy over the matched pairs.
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from ml.jsonl import records
from service.analysis.labels import LABELS, NONE

THRESHOLDS = [step / 100 for step in range(100)]  # the operating points worth telling apart


class InvalidDocumentsError(ValueError):
    """The documents file cannot be used as it is."""


@dataclass(frozen=True)
class Document:
    id: str
    genre: str
    text: str
    risks: list[tuple[int, int, str]]  # (start, end, category) in text
    sentences_labelled: int | None = None
    source: str | None = None  # "owner/repo@commit:path": whose writers these are


@dataclass(frozen=True)
class Scored:
    """A sentence the analyzer saw, with its best risk category and its risk score."""

    start: int
    end: int
    category: str
    score: float


def read_documents(path: Path) -> list[Document]:
    documents = []
    for where, record in records(path, InvalidDocumentsError):
        if not isinstance(record, dict) or not isinstance(record.get("text"), str) \
                or not isinstance(record.get("risks"), list):
            raise InvalidDocumentsError(f"{where}: needs a \"text\" string and a \"risks\" list")
        text = record["text"]
        risks = [_locate(text, risk, where) for risk in record["risks"]]
        doc_id = str(record.get("id", where))
        documents.append(Document(doc_id, str(record.get("genre") or doc_id.split("/")[0]),
                                  text, risks, record.get("sentences_labelled"),
                                  record.get("source")))
    if not documents:
        raise InvalidDocumentsError(f"{path}: no documents")
    return documents


def _locate(text: str, risk, where: str) -> tuple[int, int, str]:
    if not isinstance(risk, dict) or not isinstance(risk.get("sentence"), str) \
            or risk.get("category") not in LABELS or risk.get("category") == NONE:
        raise InvalidDocumentsError(f"{where}: each risk needs a \"sentence\" and a risk "
                                    f"\"category\" (one of {', '.join(LABELS[:-1])})")
    sentence = risk["sentence"]
    start, end = risk.get("start"), risk.get("end")
    if not (isinstance(start, int) and isinstance(end, int) and text[start:end] == sentence):
        start = text.find(sentence)
        if start < 0:
            raise InvalidDocumentsError(f"{where}: risk not in the text: {sentence[:60]!r}")
        end = start + len(sentence)
    return start, end, risk["category"]


def hard_wrapped(text: str, width: int = 72) -> str:
    """``text`` as an e-mail client wraps it: in each line longer than ``width``, spaces
    become line breaks so that no line is longer (where a word allows). One character for
    another, so every offset, and every gold span, stays where it was."""
    chars = list(text)
    line_start = 0
    last_space = -1
    for position, char in enumerate(chars):
        if char == "\n":
            line_start, last_space = position + 1, -1
        elif char == " ":
            if position - line_start > width and last_space > line_start:
                chars[last_space] = "\n"
                line_start = last_space + 1
            last_space = position
    return "".join(chars)


def wrapped_documents(documents: list[Document], width: int = 72) -> list[Document]:
    return [Document(d.id, d.genre, hard_wrapped(d.text, width), d.risks, d.sentences_labelled,
                     d.source) for d in documents]


def score_documents(analyzer, documents: list[Document]) -> list[list[Scored]]:
    """Every sentence the scan path would judge, with its risk score (findings at 0)."""
    return [[Scored(f.start, f.end, f.category, f.score)
             for f in analyzer.analyze(document.text, min_score=0.0).findings]
            for document in documents]


def metrics_at(documents: list[Document], scored: list[list[Scored]], min_score: float
               ) -> dict:
    """Precision, recall and category accuracy of the findings at ``min_score``, overall and
    per genre, and how many sentences stating no risk were flagged."""
    totals: dict[str, Counter] = defaultdict(Counter)
    for document, sentences in zip(documents, scored):
        counts = _counts(document, sentences, min_score)
        for key in (document.genre, "all"):
            totals[key].update(counts)
    return {genre: _rates(counts) for genre, counts in sorted(totals.items())}


def _counts(document: Document, sentences: list[Scored], min_score: float) -> Counter:
    findings = [s for s in sentences if s.score >= min_score]
    matched_gold: set[int] = set()
    counts = Counter(findings=len(findings), gold=len(document.risks))
    for finding in findings:
        for index, (start, end, category) in enumerate(document.risks):
            overlap = min(end, finding.end) - max(start, finding.start)
            if index not in matched_gold and overlap * 2 >= end - start:
                matched_gold.add(index)
                counts["matched"] += 1
                counts["category_right"] += finding.category == category
                break
    # The sentences a reader would judge: those the labellers read when known (3 words or
    # more), else those the scan path judged.
    counts["judged"] = document.sentences_labelled or len(sentences)
    return counts


def _rates(counts: Counter) -> dict:
    findings, gold, matched = counts["findings"], counts["gold"], counts["matched"]
    neutral = counts["judged"] - gold  # the sentences judged that state no risk
    false_alarms = findings - matched
    return {
        "documents_findings": findings, "gold_risks": gold,
        "precision": _ratio(matched, findings),
        "recall": _ratio(matched, gold),
        "category_accuracy": _ratio(counts["category_right"], matched),
        "neutral_flagged": _ratio(false_alarms, neutral),
    }


def _ratio(part: int, whole: int) -> float | None:
    """A reported rate, to four places; None where there is nothing to divide by."""
    return round(part / whole, 4) if whole > 0 else None


def curve(documents: list[Document], scored: list[list[Scored]]) -> list[dict]:
    """(min_score, precision, recall) at every threshold worth drawing, overall."""
    points = []
    for threshold in THRESHOLDS:
        overall = metrics_at(documents, scored, threshold)["all"]
        if overall["precision"] is not None:
            points.append({"min_score": threshold, "precision": overall["precision"],
                           "recall": overall["recall"]})
    return points


def choose_min_score(documents: list[Document], scored: list[list[Scored]], *,
                     precision: float = 0.8, min_recall: float = 0.4) -> float:
    """The operating point: the lowest threshold (most recall) whose precision reaches
    ``precision`` while it still finds ``min_recall`` of the risks; where none does, the
    one of best F0.5 (precision weighs double).

    Without the recall floor a few dozen confident findings on the development documents
    can reach the target and set a point that misses four risks in five (docs/model.md).
    """
    return _rule(_summed(_tallies(documents, scored)), precision, min_recall)


def bootstrap_min_scores(documents: list[Document], scored: list[list[Scored]], *,
                         resamples: int = 200, seed: int = 13, precision: float = 0.8,
                         min_recall: float = 0.4) -> list[float]:
    """The operating point ``choose_min_score`` picks on each of ``resamples`` bootstrap
    resamples of the documents (drawn with replacement, ``seed``), in order drawn.

    On a few dozen development documents the rule's choice can hang on two or three of them
    (one model's choices over resamples spread from 0.58 to 0.99; docs/model.md): their
    median is a point that no single document decides, and their spread says how far to
    trust it.
    """
    tallies = _tallies(documents, scored)
    if not tallies:
        return []
    rng = random.Random(seed)
    return [_rule(_summed([tallies[rng.randrange(len(tallies))] for _ in tallies]),
                  precision, min_recall) for _ in range(resamples)]


def _tallies(documents: list[Document], scored: list[list[Scored]]
             ) -> list[list[tuple[int, int, int]]]:
    """(findings, matched, gold) of each document at each of THRESHOLDS."""
    tallies = []
    for document, sentences in zip(documents, scored):
        row = []
        for threshold in THRESHOLDS:
            counts = _counts(document, sentences, threshold)
            row.append((counts["findings"], counts["matched"], counts["gold"]))
        tallies.append(row)
    return tallies


def _summed(tallies: list[list[tuple[int, int, int]]]) -> list[tuple[int, int, int]]:
    return [tuple(map(sum, zip(*column))) for column in zip(*tallies)]


def _rule(totals: list[tuple[int, int, int]], precision: float, min_recall: float) -> float:
    # Read as the reported figures are (_ratio), so the point is where the curve shows it.
    points = [(threshold, _ratio(matched, findings), _ratio(matched, gold) or 0)
              for threshold, (findings, matched, gold) in zip(THRESHOLDS, totals) if findings]
    reaching = [threshold for threshold, p, r in points
                if p >= precision and r >= max(min_recall, 1e-9)]
    if reaching:
        return min(reaching)

    def f_half(point):
        _, p, r = point
        return 1.25 * p * r / (0.25 * p + r) if p + r else 0

    return max(points, key=f_half)[0] if points else 0.5


def save_curve(points: list[dict], operating_point: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 5), dpi=110)
    axes.plot([p["recall"] for p in points], [p["precision"] for p in points], marker=".")
    chosen = min(points, key=lambda p: abs(p["min_score"] - operating_point))
    axes.scatter([chosen["recall"]], [chosen["precision"]], color="red", zorder=3,
                 label=f"min_score {operating_point:.2f}")
    axes.set_xlabel("recall (gold risks found)")
    axes.set_ylabel("precision (findings that are risks)")
    axes.set_xlim(0, 1.02)
    axes.set_ylim(0, 1.02)
    axes.grid(alpha=0.3)
    axes.legend()
    axes.set_title(title)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def documents_result(documents: list[Document], scored: list[list[Scored]],
                     min_score: float) -> dict:
    """How many documents, the metrics at ``min_score`` overall and by genre, the
    precision–recall curve and the reliability table, of documents already scored."""
    by_genre = metrics_at(documents, scored, min_score)
    return {"n_documents": len(documents), "min_score": min_score,
            "overall": by_genre.pop("all"), "by_genre": by_genre,
            "curve": curve(documents, scored),
            "reliability": reliability(documents, scored, min_score)}


def reliability(documents: list[Document], scored: list[list[Scored]], min_score: float,
                bins: int = 10) -> list[dict]:
    """The findings shown at ``min_score`` by score bin (``bins`` of equal width): how many,
    their mean score and the share of them that are risks (a finding is one when it covers
    at least half of a risk's sentence, as in ``metrics_at``). A score means what it says
    where the two agree; users read "80%" as four in five."""
    members: dict[int, list[tuple[float, bool]]] = defaultdict(list)
    for document, sentences in zip(documents, scored):
        for sentence in sentences:
            if sentence.score >= min_score:
                risk = any((min(end, sentence.end) - max(start, sentence.start)) * 2
                           >= end - start for start, end, _ in document.risks)
                members[min(int(sentence.score * bins), bins - 1)].append(
                    (sentence.score, risk))
    return [{"from": round(low / bins, 4), "to": round((low + 1) / bins, 4),
             "findings": len(found),
             "mean_score": round(sum(score for score, _ in found) / len(found), 4),
             "precision": round(sum(risk for _, risk in found) / len(found), 4)}
            for low, found in sorted(members.items())]


def evaluate_documents(model_dir: Path, path: Path, out_dir: Path | None = None, *,
                       min_score: float | None = None, wrap: int | None = None) -> dict:
    """Document metrics of the model in ``model_dir`` at ``min_score`` (default: its own
    operating point), and its precision–recall curve (a PNG in ``out_dir``). ``wrap``
    measures the documents hard-wrapped at that many columns (``hard_wrapped``)."""
    from service.analysis.transformer import TransformerAnalyzer

    documents = read_documents(path)
    if wrap:
        documents = wrapped_documents(documents, wrap)
    analyzer = TransformerAnalyzer(model_dir)
    scored = score_documents(analyzer, documents)
    threshold = analyzer.min_score if min_score is None else min_score
    result = {"model_version": analyzer.version, "documents": str(path), "wrapped_at": wrap,
              "temperature": analyzer.temperature,
              **documents_result(documents, scored, threshold)}
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        save_curve(result["curve"], threshold, out_dir / "precision_recall.png",
                   f"{analyzer.version} on {Path(path).name}")
        (out_dir / "documents_metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def document_metrics(model_dir: Path, dev: Path | None, test: Path | None,
                     calibrated=None) -> dict:
    """Document precision/recall of a saved model on the development and test documents,
    at its operating point, through the scan path (what ml.train records). ``calibrated``:
    the development documents, their scores and the operating point as calibration left
    them, so that they are not scored again."""
    measured = {}
    for name, path, wrap in (("dev", dev, None), ("test", test, None),
                             ("test, wrapped at 72", test, 72)):
        if name == "dev" and calibrated:
            result = documents_result(*calibrated)
        elif path and Path(path).is_file():
            result = evaluate_documents(model_dir, Path(path), wrap=wrap)
        else:
            continue
        measured[name] = {key: result[key] for key in
                          ("n_documents", "min_score", "overall", "by_genre")}
    return measured
