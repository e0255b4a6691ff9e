"""The unseen writers' yardstick: the 46 other foundations' reports labelled twice, blind, and
adjudicated, so that a figure on them is not one annotator's reading.

    python -m ml.data.yardstick sheets [--set SET] OUT.jsonl       # what annotators label
    python -m ml.data.yardstick agree [--set SET] B.jsonl C.jsonl [--original] [--out ADJUDICATE.jsonl]
    python -m ml.data.yardstick write [--set SET] B.jsonl C.jsonl RESOLVED.jsonl

``--set`` picks the documents: ``46`` (the default) the 46 reports in test.jsonl, readings in
yardstick.jsonl; ``new-writers`` every document of ml/data/documents/new-writers.jsonl (reports
by writer groups no other document comes from, issue #60), readings in new-writers-labels.jsonl
and the adjudicated risks written into new-writers.jsonl itself.

A sheet is a document's sentences as the evaluation reads them (``sentences_of``, headings
left out: they are never findings), ``{"doc", "sentences": [{"i", "text", "start", "end"}]}``.
A labels file holds ``{"doc", "i", "label"}`` for every sentence, one of the eleven labels of
ml/data/labelling-guide.md. ``agree`` gives Cohen's kappa over the eleven labels and over
risk / not a risk, for the two annotators and (``--original``) for each against the labels
the documents had, and writes the disagreements for a third annotator with the two labels in
random order. ``write`` keeps what the two agreed on and the resolved labels elsewhere, stores
every reading in ml/data/documents/yardstick.jsonl and rewrites the 46 documents' risks in
ml/data/documents/test.jsonl, so that every tool measures against the adjudicated labels.
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path

from ml.data.restated_agreement import kappa
from ml.documents import Document, read_documents
from ml.jsonl import records
from service.analysis.labels import LABELS, NONE
from service.analysis.reading import sentences_of

DOCUMENTS = Path(__file__).resolve().parent / "documents"
TEST = DOCUMENTS / "test.jsonl"
YARDSTICK = DOCUMENTS / "yardstick.jsonl"
#: The 46 reports' groups (ml.scorecard's "46 other foundations"; a test holds the two equal).
PREFIXES = ("project-report/openssf-", "project-report/cdf-")
NEW_WRITERS = DOCUMENTS / "new-writers.jsonl"
NEW_WRITERS_LABELS = DOCUMENTS / "new-writers-labels.jsonl"


@dataclass(frozen=True)
class Set:
    """A yardstick's documents: the file that holds them (and gets their adjudicated risks),
    which of its documents count, and where every reading is stored."""

    name: str
    path: Path
    readings: Path
    prefixes: tuple[str, ...] = ()  # empty: every document of the file

    def documents(self) -> list[Document]:
        return [document for document in read_documents(self.path)
                if not self.prefixes or document.id.startswith(self.prefixes)]


SETS = {"46": Set("46", TEST, YARDSTICK, PREFIXES),
        "new-writers": Set("new-writers", NEW_WRITERS, NEW_WRITERS_LABELS)}

Key = tuple[str, int]


class YardstickError(ValueError):
    """A labels file that cannot be used: unreadable, an unknown label, or other sentences."""


def documents(path: Path = TEST) -> list[Document]:
    return [document for document in read_documents(path) if document.id.startswith(PREFIXES)]


def sheets(found: list[Document]) -> list[dict]:
    return [{"doc": document.id,
             "sentences": [{"i": index, "text": sentence.text, "start": sentence.start,
                            "end": sentence.end}
                           for index, sentence in enumerate(sentences_of(document.text))
                           if not sentence.is_heading]}
            for document in found]


def original(found: list[Document], found_sheets: list[dict]) -> dict[Key, str]:
    """The label each sheet sentence had: a risk's category where the sentence covers at
    least half of it (as the evaluation matches a finding), else none."""
    labels = {}
    for document, sheet in zip(found, found_sheets, strict=True):
        for sentence in sheet["sentences"]:
            labels[document.id, sentence["i"]] = next(
                (category for start, end, category in document.risks
                 if (min(end, sentence["end"]) - max(start, sentence["start"])) * 2
                 >= end - start), NONE)
    return labels


def labels(path: Path, expected: set[Key]) -> dict[Key, str]:
    found: dict[Key, str] = {}
    for where, row in records(path, YardstickError):
        key = (row.get("doc"), row.get("i")) if isinstance(row, dict) else None
        if key not in expected or row.get("label") not in LABELS or key in found:
            raise YardstickError(f"{where}: expected a sheet's {{\"doc\", \"i\"}} once, "
                                 f"with one of {', '.join(LABELS)}")
        found[key] = row["label"]
    if missing := expected - set(found):
        raise YardstickError(f"{path}: {len(missing)} sentences unlabelled, e.g. {min(missing)}")
    return found


def agreement(first: dict[Key, str], second: dict[Key, str]) -> dict:
    keys = sorted(first)
    a, b = [first[key] for key in keys], [second[key] for key in keys]
    return {"kappa": round(kappa(a, b), 3),
            "kappa_risk": round(kappa([x != NONE for x in a], [y != NONE for y in b]), 3),
            "disagreements": sum(x != y for x, y in zip(a, b, strict=True))}


def adjudicated(first: dict[Key, str], second: dict[Key, str], resolved: dict[Key, str]
                ) -> dict[Key, str]:
    """The agreed labels, and the resolved ones where the two differ (all of them needed)."""
    open_ = {key for key in first if first[key] != second[key]}
    if unresolved := open_ - set(resolved):
        raise YardstickError(f"{len(unresolved)} disagreements unresolved, e.g. {min(unresolved)}")
    return {key: resolved[key] if key in open_ else first[key] for key in first}


def rewrite(found_sheets: list[dict], labelled: dict[Key, str], test: Path = TEST) -> None:
    """``test`` (test.jsonl, or a set's own file) with the sheets' documents' risks taken
    from ``labelled``; the other documents' lines are left as they are."""
    by_doc = {sheet["doc"]: sheet["sentences"] for sheet in found_sheets}
    lines = []
    for line in test.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["id"] in by_doc:
            sentences = by_doc[record["id"]]
            record["risks"] = [{"sentence": s["text"], "category": labelled[record["id"], s["i"]],
                                "start": s["start"], "end": s["end"]}
                               for s in sentences if labelled[record["id"], s["i"]] != NONE]
            record["sentences_labelled"] = len(sentences)
            line = json.dumps(record, ensure_ascii=False)
        lines.append(line)
    staged = test.with_name(f".{test.name}.partial")
    staged.write_text("\n".join(lines) + "\n", encoding="utf-8")
    staged.replace(test)  # a reader sees the old file or the new one, never half of one


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sheet = commands.add_parser("sheets")
    sheet.add_argument("out", type=Path)
    agree = commands.add_parser("agree")
    write = commands.add_parser("write")
    for command in (sheet, agree, write):
        command.add_argument("--set", choices=sorted(SETS), default="46",
                             help="whose documents: the 46 reports of test.jsonl (default) "
                                  "or new-writers.jsonl")
    for command in (agree, write):
        command.add_argument("first", type=Path)
        command.add_argument("second", type=Path)
    agree.add_argument("--original", action="store_true")
    agree.add_argument("--out", type=Path)
    write.add_argument("resolved", type=Path)
    args = parser.parse_args(argv)

    chosen = SETS[args.set]
    found = chosen.documents()
    found_sheets = sheets(found)
    if args.command == "sheets":
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("".join(json.dumps(sheet, ensure_ascii=False) + "\n"
                                    for sheet in found_sheets), encoding="utf-8")
        report = {"documents": len(found_sheets),
                  "sentences": sum(len(sheet["sentences"]) for sheet in found_sheets)}
        print(json.dumps(report))
        return report
    keys = {(sheet["doc"], s["i"]) for sheet in found_sheets for s in sheet["sentences"]}
    first, second = labels(args.first, keys), labels(args.second, keys)
    report = {"sentences": len(keys), "annotators": agreement(first, second)}
    if args.command == "agree":
        if args.original:
            before = original(found, found_sheets)
            report |= {"first_vs_original": agreement(before, first),
                       "second_vs_original": agreement(before, second)}
        if args.out:
            text = {(sheet["doc"], s["i"]): s["text"] for sheet in found_sheets
                    for s in sheet["sentences"]}
            shuffle = random.Random(7)
            with args.out.open("w", encoding="utf-8") as out:
                for key in sorted(key for key in keys if first[key] != second[key]):
                    pair = [first[key], second[key]]
                    shuffle.shuffle(pair)
                    out.write(json.dumps({"doc": key[0], "i": key[1], "sentence": text[key],
                                          "candidates": pair}, ensure_ascii=False) + "\n")
    else:
        resolved = resolutions(args.resolved)
        before = original(found, found_sheets)
        final = adjudicated(first, second, {key: row["label"] for key, row in resolved.items()})
        with chosen.readings.open("w", encoding="utf-8") as out:
            for key in sorted(keys):
                why = {"why": resolved[key]["why"]} if first[key] != second[key] else {}
                out.write(json.dumps({"doc": key[0], "i": key[1], "original": before[key],
                                      "first": first[key], "second": second[key],
                                      "label": final[key], **why}, ensure_ascii=False) + "\n")
        rewrite(found_sheets, final, chosen.path)
        report["risks"] = {"original": sum(v != NONE for v in before.values()),
                           "adjudicated": sum(v != NONE for v in final.values())}
    print(json.dumps(report, indent=2))
    return report


def resolutions(path: Path) -> dict[Key, dict]:
    """A resolved file's rows, ``{"doc", "i", "label", "why"}``, by sentence."""
    found = {}
    for where, row in records(path, YardstickError):
        if not isinstance(row, dict) or row.get("label") not in LABELS:
            raise YardstickError(f"{where}: expected {{\"doc\", \"i\", \"label\", \"why\"}}")
        found[row["doc"], row["i"]] = {"label": row["label"], "why": str(row.get("why", ""))}
    return found


if __name__ == "__main__":
    main()
