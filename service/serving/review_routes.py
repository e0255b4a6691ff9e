"""The review of corrections (reviewers and admins): /api/v1/corrections. A correction
teaches a model only once accepted here (corrections.py says why); the list shows what
waits, by contributor and label, and who decided what; a decision takes one row, a
selection, or a contributor's all, and an undo puts decisions back to pending."""

from __future__ import annotations

from apifairy import other_responses, response
from flask import Blueprint
from sqlalchemy import func, select

from service import audit
from service.api import json_body, page_of, paginated_response, query
from service.auth.scopes import authorized
from service.db import ScanFinding, User
from service.errors import APIError
from service.extensions import db, token_auth
from service.serving import corrections
from service.serving.schemas import (
    ContributorListSchema,
    CorrectionListArgs,
    ReviewArgs,
    ReviewDecisionSchema,
    ReviewedCorrectionSchema,
    ReviewResultSchema,
    UndoResultSchema,
    UndoSchema,
)

review = Blueprint("review", __name__)

REVIEWERS = list(corrections.TRUSTED_ROLES)
DECISIONS = {"accept": "accepted", "reject": "rejected"}


def _where(review_state: str, contributor: str | None = None,
           label: str | None = None) -> list:
    """The corrected findings in ``review_state`` (and of ``contributor``, of ``label``)."""
    where = [ScanFinding.review == review_state]
    if contributor is not None:
        where.append(ScanFinding.corrected_by == contributor)
    if label is not None:
        where.append(ScanFinding.corrected_category == label)
    return where


def _items(findings: list[ScanFinding]) -> list[dict]:
    """A page's findings with their contributors' and reviewers' emails, read in one
    query."""
    emails = corrections.emails_of({finding.corrected_by for finding in findings}
                                   | {finding.reviewed_by for finding in findings
                                      if finding.reviewed_by})
    return [{"finding": finding, "contributor_email": emails.get(finding.corrected_by),
             "reviewer_email": emails.get(finding.reviewed_by)} for finding in findings]


@review.route("", methods=["GET"])
@authorized("corrections:review", role=REVIEWERS)
@paginated_response(page_of(ReviewedCorrectionSchema)(), CorrectionListArgs, items=_items)
@other_responses({401: "No or bad token", 403: "Reviewers and admins only",
                  422: "Bad filter or page"})
def index(args):
    """People's corrections and added risks by review state (reviewers)

    `review`: `pending` (the default), `accepted` or `rejected`; `contributor` (a user id)
    and `label` narrow it. Oldest first: the order they came in.
    """
    return (select(ScanFinding)
            .where(*_where(args["review"], args.get("contributor"), args.get("label")))
            .order_by(ScanFinding.corrected_at, ScanFinding.id))


@review.route("/contributors", methods=["GET"])
@authorized("corrections:review", role=REVIEWERS)
@query(ReviewArgs)
@response(ContributorListSchema)
@other_responses({401: "No or bad token", 403: "Reviewers and admins only",
                  422: "Bad review state"})
def contributors(args):
    """Who made the corrections in a review state, and how many per label (reviewers)"""
    # Not paged: one row a person who corrected, counted over all their corrections, which
    # the review page shows side by side (docs/architecture.md, "Lists").
    counted = db.session.execute(
        select(ScanFinding.corrected_by, User.email, User.active,
               ScanFinding.corrected_category, func.count(), func.max(ScanFinding.corrected_at))
        .outerjoin(User, User.id == ScanFinding.corrected_by)
        .where(ScanFinding.review == args["review"])
        .group_by(ScanFinding.corrected_by, User.email, User.active,
                  ScanFinding.corrected_category))
    people: dict[str, dict] = {}
    for person, email, active, label, count, newest in counted:
        entry = people.setdefault(person, {"user_id": person, "email": email,
                                           "active": bool(active), "labels": {}, "total": 0,
                                           "newest_at": newest})
        entry["labels"][label] = count
        entry["total"] += count
        entry["newest_at"] = max(entry["newest_at"], newest)
    return {"items": sorted(people.values(), key=lambda entry: -entry["total"])}


@review.route("/review", methods=["POST"])
@authorized("corrections:review", role=REVIEWERS)
@json_body(ReviewDecisionSchema)
@response(ReviewResultSchema)
@other_responses({401: "No or bad token", 403: "Reviewers and admins only; under four-eyes "
                       "review, one's own corrections (errors.own_corrections): nothing was "
                       "decided",
                  409: "A correction's label is no longer the one shown (errors.changed_since), "
                       "or it is decided otherwise already (errors.decided): nothing was "
                       "decided",
                  422: "Neither findings nor contributor, or both; a contributor without as_of"})
def decide(args):
    """Accept or reject corrections (reviewers)

    `{decision: accept|reject, findings: [{id, label}, ...]}` for a selection, each with the
    label the reviewer was shown: if any changed since, nothing is decided (409). Or
    `{decision, contributor, as_of, label?}` for all of a contributor's pending ones (of that
    label) up to `as_of`, the newest shown (`newest_at` of the contributors list): later ones
    stay pending. An accepted correction is a row the next training may learn; a rejected
    one never is, until its author corrects the finding again. A decided correction is
    changed only by an undo: deciding it otherwise is a 409 (`errors.decided`, the detail
    naming who decided it) and nothing is decided; deciding it the same again changes
    nothing and is not counted. With REVIEW_FOUR_EYES on, a reviewer's own corrections
    wait for another reviewer: deciding one is a 403 (`errors.own_corrections`).
    """
    caller = token_auth.current_user()
    decision = DECISIONS[args["decision"]]
    if "contributor" in args:
        shown = dict(db.session.execute(
            select(ScanFinding.id, ScanFinding.corrected_category).where(
                *_where("pending", args["contributor"], args.get("label")),
                ScanFinding.corrected_at <= args["as_of"])).all())
    else:
        shown = {item["id"]: item["label"] for item in args["findings"]}
    try:
        changed = corrections.decide(shown, decision, caller.id)
    except corrections.ChangedSinceShown as stale:
        db.session.rollback()
        raise APIError(409, f"{_counted(len(stale.ids), 'correction')} changed since you were "
                            "shown them; nothing was decided. Reload and decide again.",
                       errors={"changed_since": stale.ids}) from None
    except corrections.OwnCorrections as own:
        db.session.rollback()
        raise APIError(403, f"{_counted(len(own.ids), 'correction')} of yours: under four-eyes "
                            "review another reviewer decides them; nothing was decided.",
                       errors={"own_corrections": own.ids}) from None
    except corrections.DecidedAlready as decided:
        db.session.rollback()
        were = "was" if len(decided.ids) == 1 else "were"
        raise APIError(409, f"{_counted(len(decided.ids), 'correction')} {were} decided already "
                            f"(by {_reviewers(decided.reviewers)}): a decision is changed only "
                            "by an undo, by the reviewer who made it or an admin, and then "
                            "decided again; nothing was decided.",
                       errors={"decided": decided.ids}) from None
    audit.record("corrections_reviewed", actor_id=caller.id, target_id=args.get("contributor"),
                 decision=decision, changed=changed, label=args.get("label"))
    db.session.commit()
    return {"decision": decision, "changed": changed, "pending": corrections.pending_count()}


@review.route("/undo", methods=["POST"])
@authorized("corrections:review", role=REVIEWERS)
@json_body(UndoSchema)
@response(UndoResultSchema)
@other_responses({401: "No or bad token", 403: "Reviewers and admins only; a decision of "
                       "another reviewer (errors.decided_by_another): nothing was undone",
                  409: "A correction's label is no longer the one shown: nothing was undone",
                  422: "No findings, or more than 500"})
def undo(args):
    """Undo decisions: accepted or rejected corrections back to pending (reviewers)

    `{findings: [{id, label}, ...]}` (at most 500), each with the label the reviewer was
    shown: if one was re-corrected since, 409 (`errors.changed_since`) and nothing is
    undone. A reviewer undoes their own decisions, an admin anyone's: another reviewer's is
    a 403 (`errors.decided_by_another`) and nothing is undone. One pending already (undone
    twice) is left as it is: `undone` counts only what this call put back.
    """
    caller = token_auth.current_user()
    shown = {item["id"]: item["label"] for item in args["findings"]}
    try:
        undone = corrections.undo(shown, caller)
    except corrections.ChangedSinceShown as stale:
        db.session.rollback()
        raise APIError(409, f"{_counted(len(stale.ids), 'correction')} changed since you were "
                            "shown them; nothing was undone. Reload and undo again.",
                       errors={"changed_since": stale.ids}) from None
    except corrections.DecidedByAnother as others:
        db.session.rollback()
        raise APIError(403, f"{_counted(len(others.ids), 'decision')} of another reviewer: "
                            "only they or an admin may undo them; nothing was undone.",
                       errors={"decided_by_another": others.ids}) from None
    if total := sum(undone.values()):
        audit.record("corrections_undone", actor_id=caller.id, changed=total, **undone)
    db.session.commit()
    return {"undone": total, **undone, "pending": corrections.pending_count()}


def _reviewers(reviewers: dict[int, str | None]) -> str:
    """Who decided, as people read it: their emails (a deleted account's said so)."""
    emails = corrections.emails_of({person for person in reviewers.values() if person})
    named = sorted({emails.get(person) or "a deleted account"
                    for person in reviewers.values()})
    return ", ".join(named[:3]) + (f" and {len(named) - 3} more" if len(named) > 3 else "")


def _counted(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
