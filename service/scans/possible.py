"""Near misses: the sentences a model scored just below a scan's operating point.

A scan that asks ``include_possible`` gets them beside its findings, each ``possible``: a
person confirms one (a correction to a risk category: it counts and joins the register
from then on) or dismisses it (``none``). The analyzers label a sentence below the
``min_score`` they are given as ``none`` and drop it, so the scan asks at the floor and
splits the answer here at the operating point: the findings are the ones a scan without
``include_possible`` gets (but for a score that rounds to the operating point: see split).
"""

from __future__ import annotations

from collections.abc import Mapping

from service.analysis.base import Finding
from service.api import form_boolean, form_fraction

FIELDS = ("include_possible", "possible_floor")


def form_fields(form: Mapping[str, str]) -> dict:
    """``include_possible`` and ``possible_floor`` of a multipart form, those it sent
    (a scan's, a job's): 422 for what is not a boolean or a number from 0 to 1."""
    given = {}
    if "include_possible" in form:
        given["include_possible"] = form_boolean(form, "include_possible")
    floor = form_fraction(form, "possible_floor") if "possible_floor" in form else None
    if floor is not None:
        given["possible_floor"] = floor  # read only with include_possible, as in JSON
    return given


def operating_point(analyzer, min_score: float | None) -> float | None:
    """The score a finding of ``analyzer`` must reach at ``min_score`` (None: the model's
    own); None for an analyzer without one (the LLM: every finding scores 1)."""
    return min_score if min_score is not None else getattr(analyzer, "min_score", None)


def asked_score(analyzer, min_score: float | None, floor: float | None) -> float | None:
    """The ``min_score`` to run ``analyzer`` at: the floor when it is below the operating
    point (``floor``: None when the scan asks for no near misses), else ``min_score``."""
    operating = operating_point(analyzer, min_score)
    if floor is None or operating is None or floor >= operating:
        return min_score
    return floor


def split(findings: list[Finding], analyzer, min_score: float | None, floor: float | None
          ) -> list[tuple[Finding, bool]]:
    """Each finding with whether it is a near miss: scored below the operating point (none
    when the scan asked for none: ``floor`` None)."""
    operating = operating_point(analyzer, min_score)
    if floor is None or operating is None:
        return [(finding, False) for finding in findings]
    # Scores come rounded to 4 places, and rounding keeps order: a finding the model made at
    # the operating point never falls below it rounded, and a score that rounds to it
    # exactly is taken for a finding.
    operating = round(operating, 4)
    return [(finding, finding.score is not None and finding.score < operating)
            for finding in findings]
