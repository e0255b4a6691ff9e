"""The deployment simulation of ml.learning_curve: what a person teaches on a scanned report
(the fine-tuning itself is ml.finetune's, tested in tests/test_trainings.py)."""

from __future__ import annotations

from ml.documents import Document, Scored
from ml.learning_curve import summary, teaching
from service.analysis.reading import judged

TEXT = ("The vendor may slip the delivery by a month. We shipped release 2.0 on time. "
        "Funding for next year is not yet secured. The team met on Tuesday.")


def test_a_person_corrects_what_was_shown_and_adds_what_was_missed():
    sentences = judged(TEXT)
    assert len(sentences) == 4
    vendor, shipped, funding, met = sentences
    document = Document("r/1", "project-report", TEXT,
                        [(vendor.start, vendor.end, "vendor"),
                         (funding.start, funding.end, "budget")])
    scored = [Scored(vendor.start, vendor.end, "schedule", 0.99),  # shown, wrong category
              Scored(shipped.start, shipped.end, "technical", 0.98),  # shown, no risk
              Scored(funding.start, funding.end, "budget", 0.40),  # not shown: missed
              Scored(met.start, met.end, "none", 0.10)]  # not shown, rightly
    rows = teaching(document, scored, min_score=0.9)
    assert [(row["text"], row["label"]) for row in rows] == [
        (vendor.text, "vendor"), (shipped.text, "none"), (funding.text, "budget")]
    assert all(row["source"] == "simulated/r/1" for row in rows)
    assert rows[1]["context"] == shipped.context  # learnt as the scan read it
    # At a lower operating point the funding line was shown and right: confirmed, same row.
    assert [row["label"] for row in teaching(document, scored, min_score=0.3)] == \
        ["vendor", "none", "budget"]


def test_the_summary_averages_the_seeds_at_each_k():
    def row(k, f1, precision=0.5):
        figures = {"precision": precision, "recall": 0.5, "f1": f1}
        return {"k": k, "held_out": figures, "the_42": figures}

    table = summary([row(0, 0.4), row(5, 0.5), row(5, 0.7, precision=0.7)])
    assert [(r["k"], r["seeds"], r["held_out_f1"]) for r in table] == [(0, 1, 0.4), (5, 2, 0.6)]
    assert table[1]["the_42_precision"] == 0.6


def test_the_summary_reads_candidates_at_the_base_point_too():
    def figures(f1):
        return {"precision": 0.5, "recall": 0.5, "f1": f1}

    base = {"k": 0, "held_out": figures(0.3), "the_42": figures(0.5)}
    moved = [{"k": 20, "held_out": figures(f1), "the_42": figures(0.5),
              "at_base_point": {"held_out": figures(at_base), "the_42": figures(0.6)}}
             for f1, at_base in ((0.3, 0.5), (0.4, 0.7))]
    table = summary([base, *moved])
    assert [(r["held_out_f1"], r["base_point_held_out_f1"]) for r in table] == [
        (0.3, 0.3), (0.35, 0.6)]
    assert table[1]["base_point_the_42_f1"] == 0.6
