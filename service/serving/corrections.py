"""People's corrections and the risks they added, as labelled sentences, and who may make
them teach a model.

A correction changes a scan (and its project's register) at once, but it teaches a model
only once it is trusted: a reviewer (``TRUSTED_ROLES``) accepted it in the review of
corrections, or its author is one. Each person's newest accepted label of a sentence is their
vote, the majority of the votes is the sentence's label and a tie drops it; a deactivated or
deleted account's votes are not counted. So one account's flood of corrections teaches
nothing until a reviewer has read it (docs/security.md, "Who teaches the model").

``training_rows`` are what a training from corrections learns (trainings.py) and what
``flask export-corrections`` writes; ``own_corrections(user_id)`` is one person's own corrections
as they made them (``GET /api/v1/findings/feedback``), whatever their review.
"""

from __future__ import annotations

import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator

from blinker import Namespace
from sqlalchemy import func, select, update

from service.analysis.reading import sentences_of
from service.config import current_settings
from service.db import Scan, ScanFinding, User, effective_label, utcnow
from service.extensions import db

TRUSTED_ROLES = ("reviewer", "admin")

_signals = Namespace()
#: Sent with ``finding_ids`` before a review changes them: what follows a finding's label
#: (a project's register) takes its locks first, in the order every correction takes them.
reviewing = _signals.signal("riskscan.reviewing")
#: Sent with ``changed`` ({finding id: the label it had}) and ``actor_id`` once a review
#: changed findings' labels: a rejection puts the model's label back, its undo the
#: correction's (service/projects/register/relabel.py follows it in the register).
relabelled = _signals.signal("riskscan.relabelled")


def corrected(finding: ScanFinding, caller, category: str) -> None:
    """``finding`` corrected to ``category`` by ``caller`` (a risk a person added is one
    too): accepted at once from a reviewer, else waiting for one. Under four-eyes review
    (REVIEW_FOUR_EYES) a reviewer's own waits too, for another reviewer."""
    finding.corrected_category = category
    finding.corrected_by = caller.id
    finding.corrected_at = utcnow()
    trusted = caller.role in TRUSTED_ROLES and not current_settings().REVIEW_FOUR_EYES
    finding.review = "accepted" if trusted else "pending"
    finding.reviewed_by = caller.id if trusted else None
    finding.reviewed_at = finding.corrected_at if trusted else None


class ChangedSinceShown(Exception):
    """Corrections whose label is no longer the one the reviewer was shown."""

    def __init__(self, ids: list[int]):
        super().__init__(ids)
        self.ids = ids


class DecidedByAnother(Exception):
    """Decisions another reviewer made: only they, or an admin, undo them."""

    def __init__(self, ids: list[int]):
        super().__init__(ids)
        self.ids = ids


class OwnCorrections(Exception):
    """Under four-eyes review, corrections the reviewer made: another reviewer decides."""

    def __init__(self, ids: list[int]):
        super().__init__(ids)
        self.ids = ids


class DecidedAlready(Exception):
    """Corrections decided otherwise already: only an undo changes a decision.
    ``reviewers``: {finding id: the reviewer who decided it}."""

    def __init__(self, reviewers: dict[int, str | None]):
        super().__init__(sorted(reviewers))
        self.ids = sorted(reviewers)
        self.reviewers = reviewers


def decide(shown: dict[int, str], decision: str, reviewer_id: str) -> int:
    """Accept or reject the corrections ``shown`` ({finding id: the label the reviewer saw};
    ``decision``: "accepted" or "rejected"); how many changed. A correction whose label is
    not the one shown (remade since) is ChangedSinceShown, and the caller rolls
    the whole decision back: a reviewer decides what they saw, never what came after. So is
    one decided otherwise already (DecidedAlready): a decision is changed only by an undo
    (its reviewer's, or an admin's), never by a second reviewer deciding over it; one
    decided the same already is left as it is, and not counted. Under four-eyes review a
    reviewer's own corrections are OwnCorrections, and nothing is decided. The checks
    follow the UPDATEs, whose row locks keep them true until the commit."""
    if not shown:
        return 0
    if current_settings().REVIEW_FOUR_EYES and (own := sorted(db.session.scalars(
            select(ScanFinding.id).where(ScanFinding.id.in_(list(shown)),
                                         ScanFinding.corrected_by == reviewer_id)))):
        raise OwnCorrections(own)
    labels = _labels_before(shown)
    changed = 0
    for label, ids in _by_label(shown).items():
        changed += db.session.execute(
            update(ScanFinding)
            .where(ScanFinding.id.in_(ids), ScanFinding.corrected_category == label,
                   ScanFinding.review == "pending")
            .values(review=decision, reviewed_by=reviewer_id,
                    reviewed_at=utcnow())
            .execution_options(synchronize_session=False)).rowcount
    _check_shown(shown)
    if decided := dict(db.session.execute(
            select(ScanFinding.id, ScanFinding.reviewed_by)
            .where(ScanFinding.id.in_(list(shown)),
                   ScanFinding.review.not_in(("pending", decision)))
            .with_for_update()).all()):  # a locking read: the rows as committed, on MySQL
        raise DecidedAlready(decided)
    _labels_followed(labels, reviewer_id)
    return changed


def undo(shown: dict[int, str], reviewer) -> dict[str, int]:
    """The decisions on the corrections ``shown`` ({finding id: the label shown}) undone:
    each back to pending, waiting for a reviewer again; how many of each decision were
    undone ({"accepted": n, "rejected": m}). A reviewer undoes their own decisions, an
    admin anyone's (else DecidedByAnother); a label remade since is ChangedSinceShown, as
    in decide(), and the caller rolls it all back. One already pending (undone by a second
    click, or by someone else at the same moment) changes nothing: each UPDATE takes only
    what is still decided, under its row locks."""
    theirs = [] if reviewer.role == "admin" else [ScanFinding.reviewed_by == reviewer.id]
    labels = _labels_before(shown)
    undone = {}
    for decision in ("accepted", "rejected"):
        undone[decision] = sum(db.session.execute(
            update(ScanFinding)
            .where(ScanFinding.id.in_(ids), ScanFinding.corrected_category == label,
                   ScanFinding.review == decision, *theirs)
            .values(review="pending", reviewed_by=None, reviewed_at=None)
            .execution_options(synchronize_session=False)).rowcount
            for label, ids in _by_label(shown).items())
    _check_shown(shown)
    if theirs and (others := sorted(db.session.scalars(select(ScanFinding.id).where(
            ScanFinding.id.in_(list(shown)), ScanFinding.review != "pending",
            ScanFinding.reviewed_by.is_distinct_from(reviewer.id))))):
        raise DecidedByAnother(others)
    _labels_followed(labels, reviewer.id)
    return undone


def _labels(ids) -> dict[int, tuple[str, str]]:
    """{finding id: (its label as it stands, its scan)}: a rejected correction's is the
    model's (ScanFinding.effective_category)."""
    return {finding_id: (label, scan_id) for finding_id, label, scan_id in db.session.execute(
        select(ScanFinding.id, effective_label(ScanFinding.__table__), ScanFinding.scan_id)
        .where(ScanFinding.id.in_(list(ids))))}


def _labels_before(shown: dict[int, str]) -> dict[int, tuple[str, str]]:
    reviewing.send(None, finding_ids=sorted(shown))
    return _labels(shown)


def _labels_followed(before: dict[int, tuple[str, str]], actor_id: str) -> None:
    """What a review changed of findings' labels: their scans' kept counts go (the flush
    hook sees ORM changes only, and these were UPDATEs), and ``relabelled`` is sent."""
    after = _labels(before)
    changed = {finding_id: label for finding_id, (label, _) in before.items()
               if after.get(finding_id, (label,))[0] != label}
    if not changed:
        return
    db.session.execute(update(Scan).where(Scan.id.in_({before[i][1] for i in changed}))
                       .values(category_counts=None)
                       .execution_options(synchronize_session=False))
    db.session.expire_all()  # the findings' review, as the UPDATEs left it
    relabelled.send(None, changed=changed, actor_id=actor_id)


def _by_label(shown: dict[int, str]) -> dict[str, list[int]]:
    by_label: dict[str, list[int]] = defaultdict(list)
    for finding_id, label in shown.items():
        by_label[label].append(finding_id)
    return by_label


def _check_shown(shown: dict[int, str]) -> None:
    """ChangedSinceShown for the corrections whose label is not the one shown now. One
    withdrawn since (no label now) or never made is harmless: nothing was done to it."""
    now = dict(db.session.execute(select(ScanFinding.id, ScanFinding.corrected_category)
                                  .where(ScanFinding.id.in_(list(shown)))).all())
    if changed_since := sorted(i for i, label in shown.items()
                               if now.get(i) is not None and now[i] != label):
        raise ChangedSinceShown(changed_since)


def training_rows(*, context: bool = False, shown: bool = False) -> Iterator[dict]:
    """``{text, label, source}`` per sentence that may teach, its label the majority of the
    votes (module docstring), newest first; ``contributors`` names the user ids whose vote
    it is. ``context``: also the ``context`` its scan's model read beside the sentence.
    ``shown``: also whether a model reported the sentence (a finding, or a near miss, that
    a majority confirmed (a risk label) or dismissed (``none``); False where only people
    added it): the findings a training refits the score map on (ml/deployment_map.py)."""
    statement = (select(ScanFinding.risk, ScanFinding.corrected_category,
                        ScanFinding.corrected_by, ScanFinding.scan_id, ScanFinding.start,
                        ScanFinding.added_by_user)
                 .join(User, User.id == ScanFinding.corrected_by)
                 .where(ScanFinding.corrected_category.is_not(None),
                        ScanFinding.review == "accepted", User.active.is_(True))
                 .order_by(ScanFinding.corrected_at.desc(), ScanFinding.id.desc()))
    votes: dict[str, dict[str, tuple]] = defaultdict(dict)  # sentence → person → newest
    for risk, label, person, scan_id, start, added in db.session.execute(statement):
        votes[sentence_key(risk)].setdefault(person, (risk, label, scan_id, start, added))
    contexts = _Contexts() if context else None
    for by_person in votes.values():
        (label, most), *rest = Counter(vote[1] for vote in by_person.values()).most_common(2)
        if rest and rest[0][1] == most:
            continue  # people disagree evenly: nobody's word outweighs another's
        risk, _, scan_id, start, _ = next(v for v in by_person.values() if v[1] == label)
        row = {"text": risk, "label": label, "source": f"feedback/{scan_id}",
               "contributors": sorted(p for p, vote in by_person.items() if vote[1] == label)}
        if contexts is not None:
            row["context"] = contexts.of(scan_id, start)
        if shown:
            row["shown"] = any(not vote[4] for vote in by_person.values() if vote[1] == label)
        yield row


def own_corrections(user_id: str, *, context: bool = False) -> Iterator[dict]:
    """``{text, label, source}`` per sentence corrected in ``user_id``'s own scans, newest
    correction first, a sentence corrected more than once with its newest label."""
    statement = (select(ScanFinding.risk, ScanFinding.corrected_category, ScanFinding.scan_id,
                        ScanFinding.start)
                 .join(Scan, Scan.id == ScanFinding.scan_id)
                 .where(ScanFinding.corrected_category.is_not(None), Scan.user_id == user_id)
                 .order_by(ScanFinding.corrected_at.desc(), ScanFinding.id.desc()))
    seen: set[str] = set()
    contexts = _Contexts() if context else None
    for risk, label, scan_id, start in db.session.execute(statement):
        if risk in seen:
            continue
        seen.add(risk)
        row = {"text": risk, "label": label, "source": f"feedback/{scan_id}"}
        if contexts is not None:
            row["context"] = contexts.of(scan_id, start)
        yield row


def contributions(rows: Iterable[dict]) -> dict[str, dict[str, int]]:
    """``{email: {label: rows}}``: who contributed how many of ``rows`` per label (a
    training's card). An account gone meanwhile is named by its id."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for row in rows:
        for person in row["contributors"]:
            counts[person][row["label"]] += 1
    emails = emails_of(counts)
    return {emails.get(person, person): dict(sorted(labels.items()))
            for person, labels in sorted(counts.items(), key=lambda item: emails.get(item[0], item[0]))}


def emails_of(user_ids: Iterable[str]) -> dict[str, str]:
    """``{id: email}`` of the accounts among ``user_ids`` that still exist, in one query."""
    ids = list(user_ids)
    return dict(db.session.execute(select(User.id, User.email)
                                   .where(User.id.in_(ids))).all()) if ids else {}


def pending_count() -> int:
    """Corrections waiting for a reviewer."""
    return db.session.scalar(select(func.count()).select_from(ScanFinding)
                             .where(ScanFinding.review == "pending"))


def sentence_key(text: str) -> str:
    """One sentence whatever its case and spacing, as ml/correction_rows.py compares them
    (and the register's pairs, projects/curation_pairs.py)."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


class _Contexts:
    """Each sentence's context in a scan's text, by its start offset, read once a scan."""

    def __init__(self):
        self._scans: dict[str, dict[int, str]] = {}

    def of(self, scan_id: str, start: int) -> str:
        if scan_id not in self._scans:
            text = db.session.scalar(select(Scan.text).where(Scan.id == scan_id))
            self._scans[scan_id] = ({sentence.start: sentence.context
                                     for sentence in sentences_of(text)} if text else {})
        return self._scans[scan_id].get(start, "")
