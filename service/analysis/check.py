"""The built-in scan a model passes before it serves: its findings must be the ones its
folder's ``check.json`` records.

A model copied to another machine, exported again or half written answers differently
from the model that was measured; a scan of a fixed text shows it before any user's scan
does. ``write_check`` records what the model finds in CHECK_TEXT at its own operating point
(ml.train, or whoever builds a model folder, calls it on the saved model); ``check`` scans
the text again and names the first difference. A folder without ``check.json`` is checked
for what any model must do: scan the text and report only taxonomy labels within 0..1.
"""

from __future__ import annotations

from pathlib import Path

from service.analysis.base import AnalysisError
from service.analysis.labels import RISK_LABELS
from service.analysis.model_folder import CHECK_JSON, ModelFolder

#: Scores may move this much (another CPU, another ONNX Runtime build); labels and
#: offsets may not.
SCORE_TOLERANCE = 0.02
#: ... and this much between two int8 readings of one sentence in other batches: dynamic
#: quantization scales a product's input by the largest value in its batch, so a reader in
#: int8 scores a sentence the screen passed with its fellows slightly differently from the
#: same sentence read with all of them (0.022 seen on the test model's int8 reader).
INT8_SCORE_TOLERANCE = 0.05
#: A status report with a heading, a list, risks and plain sentences.
CHECK_TEXT = """# Status report, week 12

The team met on Tuesday and agreed the plan for the next release.

## Risks and issues

- The supplier may deliver the servers three weeks late, which would delay the go-live.
- If the budget is cut again, the data migration cannot be finished this year.
- Two of the four developers leave in May and nobody has been hired to replace them.
- The penetration test found that customer records are stored without encryption.

Testing starts next week. The new hire lacks access to the test environment, so UAT may slip.
The steering committee thanked the team for the demo.
"""


class CheckFailed(AnalysisError):
    """The model's findings on CHECK_TEXT are not the ones its folder records."""

    status = 422
    title = "Model check failed"


def findings(analyzer) -> list[dict]:
    """What ``analyzer`` finds in CHECK_TEXT at its own operating point, as check.json
    keeps it."""
    return [{"start": f.start, "end": f.end, "category": f.category,
             "score": round(f.score, 4)} for f in analyzer.analyze(CHECK_TEXT).findings]


def write_check(model_dir: str | Path, analyzer) -> Path:
    """Record ``analyzer``'s findings on CHECK_TEXT in ``model_dir``/check.json."""
    return ModelFolder(model_dir).write_json(CHECK_JSON, {"findings": findings(analyzer)})


def check(analyzer, model_dir: str | Path) -> str:
    """Scan CHECK_TEXT with ``analyzer`` (the model of ``model_dir``); raise CheckFailed with
    the first difference from its check.json. Returns what was checked: ``"findings"`` (as
    check.json records) or ``"labels"`` (no check.json)."""
    return _checked(_valid(findings(analyzer)), model_dir)


def _checked(found: list[dict], model_dir: str | Path) -> str:
    """``found``, a model's findings on CHECK_TEXT, against its folder's check.json (check)."""
    try:
        expected = ModelFolder(model_dir).read_json(CHECK_JSON)["findings"]
    except FileNotFoundError:
        return "labels"
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CheckFailed(f"{CHECK_JSON} is unreadable: {type(error).__name__}") from error
    difference = _difference(expected, found)
    if difference:
        raise CheckFailed(f"the built-in scan does not find what {CHECK_JSON} records: "
                          f"{difference}")
    return "findings"


def check_cascade(cascade, fast_dir: str | Path, reader_dir: str | Path) -> None:
    """Check each stage of ``cascade`` against its folder's check.json, then scan CHECK_TEXT
    through the cascade itself: each of its findings must be the reader's, or past its
    reading budget the fast model's (the screen only takes findings away or leaves them to
    the fast model, never moves or rescores one); CheckFailed names the first that is
    not. check.json records the model at full precision: a reader served in int8 is
    checked through the cascade only, its scores within INT8_SCORE_TOLERANCE."""
    screened = _valid(findings(cascade.screen))
    _checked(screened, fast_dir)
    read = _valid(findings(cascade.reader))
    int8 = getattr(cascade.reader, "quantize", "none") != "none"
    if not int8:
        _checked(read, reader_dir)
    tolerance = INT8_SCORE_TOLERANCE if int8 else SCORE_TOLERANCE
    # The screen reads the whole text either way, so its scores are its own to the digit.
    answers = [(want, tolerance) for want in read] + [(want, SCORE_TOLERANCE)
                                                      for want in screened]
    for finding in _valid(findings(cascade)):
        if not any(_difference([want], [finding], tolerance) is None
                   for want, tolerance in answers):
            raise CheckFailed(f"the built-in scan through the cascade found {finding}, which "
                              "neither its reader nor its fast model finds alone")


def _valid(found: list[dict]) -> list[dict]:
    """``found``, unless a finding has a label outside the taxonomy's risks or a score
    outside 0..1 (CheckFailed)."""
    for finding in found:
        if finding["category"] not in RISK_LABELS or not 0 <= finding["score"] <= 1:
            raise CheckFailed(f"the built-in scan found {finding}: not a risk label with a "
                              "score within 0..1")
    return found


def _difference(expected: list, found: list[dict],
                tolerance: float = SCORE_TOLERANCE) -> str | None:
    """The first finding that differs (place, category, or a score beyond ``tolerance``)."""
    if not isinstance(expected, list):
        return "its findings are not a list"
    if len(expected) != len(found):
        return f"{len(found)} findings, {len(expected)} recorded"
    for want, got in zip(expected, found):
        try:
            same = ((want["start"], want["end"], want["category"]) ==
                    (got["start"], got["end"], got["category"])
                    and abs(float(want["score"]) - got["score"]) <= tolerance)
        except (KeyError, TypeError, ValueError):
            return f"a recorded finding is malformed: {want!r}"[:200]
        if not same:
            return (f"characters {got['start']}–{got['end']}: {got['category']} at "
                    f"{got['score']:.4f}, recorded {want.get('category')} at "
                    f"{want.get('score')}")[:300]
    return None
