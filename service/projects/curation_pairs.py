"""The register mended by hand as pairs for the pair model (issue #77): a merge says two
wordings state the same risk, a split says a sentence states another risk than the entry it
left. ``flask export-register-pairs`` writes them for ``python -m ml.pair_training train
--register-pairs`` (docs/register.md, "A pair model, tried").

What a pair is, read from what the register keeps (the audit log names each decision, its
actor and entries; the entries' events say what wording each had, and when):

- **a merge** (``risk_merged``): the wording each merged entry had (its latest finding's
  sentence, or the one typed, as the audit log recorded it), against the wording the entry
  it was merged into had just before (its events say): ``same``. Its other findings'
  sentences are not paired: once merged, which of them it held is not kept (their links
  move on with later merges and splits, corrections and deleted reports), and a pair the
  person never saw side by side would teach a guess;
- **a split** (``risk_split``): each sentence split out (its finding's), against the
  wording the entry it left kept just after: ``different``;
- **a suggestion said not the same** (``risk_suggestion_dismissed``, suggestions.py): the
  two entries' wordings as the person read them side by side: ``different``.

``a`` is the wording of the entry that stayed, ``b`` the sentence that came or went (the
order the matcher asks the pair model in; the training reads both orders). A pair is the
same whatever the case and spacing of its words and in either order: one row, and where
people decided it more than once (a merge later undone by a split, a split merged back) the
newest decision stands, whoever made it.

Trusted as corrections are (service/serving/corrections.py, docs/security.md "Who teaches
the model"): a pair is exported only where the decision that stands was made by an account
of a ``TRUSTED_ROLES`` role (reviewer, admin) when it decided, that still has one and is
active: a deactivated or deleted account's decisions never teach, a demoted reviewer's stop.
There is **no review queue for merges and splits**: an editor's or owner's decision is
counted as ``waiting`` and stays out, whatever role its author is given later; nobody can
accept it, and only a reviewer's later decision of the same pair replaces it. A sentence
teaches only while a report of the project still states it (or an entry added by hand types
it): a report deleted or moved out of the project takes its pairs with it (``gone``); so
does a deleted project, and a merge made before the register kept events (migration
b3e7f9a2c4d6) is left out: nothing recorded the wording of the entry it joined.

The work is bounded: the decisions are read as a stream and kept small (ids, a merged
entry's wording: people make them by hand), then one project at a time: its pairs, each
decision's entries' events, and one pass over its findings' sentences.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import select

from service.db import AuditEvent, Project, RegisterEntry, RegisterEvent, Scan, ScanFinding, User
from service.extensions import db
from service.serving.corrections import TRUSTED_ROLES, sentence_key

RELATIONS = {"merge": "same", "split": "different", "not same": "different"}
_EVENTS = {"risk_merged": "merge", "risk_split": "split",
           "risk_suggestion_dismissed": "not same"}
_CHUNK = 500  # ids in one IN (…)


@dataclass
class Summary:
    """What an export found: the pairs written by relation; those whose standing decision
    an untrusted account made (``waiting``); and ``gone``, those a report of the project no
    longer states, with the decisions of projects deleted since."""

    same: int = 0
    different: int = 0
    waiting: int = 0
    gone: int = 0

    @property
    def pairs(self) -> int:
        return self.same + self.different


@dataclass(frozen=True)
class _Decision:
    order: int  # the audit event's id: later decisions have larger ones
    source: str  # "merge", "split" or "not same"
    actor_id: str | None
    entry_id: int  # the entry merged into, or the one split from
    others: tuple[int, ...]  # the entries merged, or the findings split out
    new_id: int | None = None  # the split's new entry
    wordings: dict = field(default_factory=dict, compare=False)  # merged id → its wording


@dataclass(frozen=True)
class _Event:
    id: int
    kind: str
    cause: str
    changes: dict


def register_pairs(summary: Summary | None = None) -> Iterator[dict]:
    """``{a, b, relation, source, project}`` per pair people's trusted merges and splits
    make (the module's rules), project by project; ``summary`` counts what it finds."""
    summary = Summary() if summary is None else summary
    by_project: dict[str, list[_Decision]] = {}
    for project_id, decision in _decisions():
        by_project.setdefault(project_id, []).append(decision)
    trusted = _Trust({d.actor_id for ds in by_project.values() for d in ds} - {None})
    live = _existing_projects(by_project)
    for project_id in sorted(by_project):
        if project_id in live:
            yield from _project_pairs(project_id, by_project[project_id], trusted, summary)
        else:  # its register went with it: nothing to read the wordings from
            summary.gone += len(by_project[project_id])


def _decisions() -> Iterator[tuple[str, _Decision]]:
    """(project id, decision) per merge and split the audit log holds, oldest first."""
    rows = db.session.execute(
        select(AuditEvent.id, AuditEvent.event, AuditEvent.actor_id, AuditEvent.target_id,
               AuditEvent.details)
        .where(AuditEvent.event.in_(list(_EVENTS))).order_by(AuditEvent.id)
        .execution_options(yield_per=_CHUNK))
    for order, event, actor_id, target_id, details in rows:
        details = details or {}
        project_id = details.get("project_id")
        try:
            if _EVENTS[event] == "merge":
                entries = details.get("entries") or {}
                decision = _Decision(order, "merge", actor_id, int(target_id),
                                     tuple(int(i) for i in details.get("merged") or ()),
                                     wordings={int(i): e.get("risk") for i, e in entries.items()
                                               if isinstance(e, dict)})
            elif _EVENTS[event] == "not same":  # both wordings, as the person read them
                other = int(details["other"])
                wordings = details.get("wordings") or {}
                decision = _Decision(order, "not same", actor_id, int(target_id), (other,),
                                     wordings={int(i): w for i, w in wordings.items()})
            else:
                decision = _Decision(order, "split", actor_id, int(details["split_from"]),
                                     tuple(int(i) for i in details.get("findings") or ()),
                                     new_id=int(target_id))
        except (KeyError, TypeError, ValueError):
            continue  # not a decision this code wrote
        if isinstance(project_id, str):
            yield project_id, decision


class _Trust:
    """Whose decisions teach: an account that is active and of a trusted role now, and was
    of one when it decided (the role it had then: the first ``role_change`` after the
    decision says it, else it has the role it had)."""

    def __init__(self, actor_ids: set[str]):
        self.now = {user_id for chunk in _chunks(actor_ids) for user_id in db.session.scalars(
            select(User.id).where(User.id.in_(chunk), User.active.is_(True),
                                  User.role.in_(TRUSTED_ROLES)))}
        self.changes: dict[str, list[tuple[int, object]]] = {}
        for chunk in _chunks(self.now):
            for order, user_id, details in db.session.execute(
                    select(AuditEvent.id, AuditEvent.target_id, AuditEvent.details)
                    .where(AuditEvent.event == "role_change", AuditEvent.target_id.in_(chunk))
                    .order_by(AuditEvent.id)):
                self.changes.setdefault(user_id, []).append((order, (details or {}).get("old")))

    def __call__(self, decision: _Decision) -> bool:
        if decision.actor_id not in self.now:
            return False
        then = next((old for order, old in self.changes.get(decision.actor_id, ())
                     if order > decision.order), None)
        return then is None or then in TRUSTED_ROLES


def _existing_projects(project_ids: Iterable[str]) -> set[str]:
    return {project_id for chunk in _chunks(project_ids) for project_id in db.session.scalars(
        select(Project.id).where(Project.id.in_(chunk)))}


def _chunks(values: Iterable) -> Iterator[list]:
    values = sorted(values)
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def _project_pairs(project_id: str, decisions: list[_Decision], trusted: _Trust,
                   summary: Summary) -> Iterator[dict]:
    standing: dict[tuple[str, str], tuple[_Decision, str, str]] = {}
    for decision in decisions:  # oldest first: a later decision of a pair replaces it
        made = (_merged if decision.source == "merge" else _not_same
                if decision.source == "not same" else _split)(project_id, decision)
        for a, b in made:
            key = pair_key(a, b)
            if key is not None:
                standing.pop(key, None)
                standing[key] = (decision, a, b)
    stated = _stated(project_id, {words for key in standing for words in key})
    for key, (decision, a, b) in standing.items():
        if not (key[0] in stated and key[1] in stated):
            summary.gone += 1
        elif not trusted(decision):
            summary.waiting += 1
        else:
            relation = RELATIONS[decision.source]
            setattr(summary, relation, getattr(summary, relation) + 1)
            yield {"a": a, "b": b, "relation": relation, "source": decision.source,
                   "project": project_id}


def _merged(project_id: str, decision: _Decision) -> Iterator[tuple[str, str]]:
    """(the wording the entry merged into had just before, each merged entry's wording)."""
    into = _events(project_id, decision.entry_id)
    for merged_id in decision.others:
        wording = decision.wordings.get(merged_id)
        gone = next((e for e in _events(project_id, merged_id)
                     if e.kind == "merged" and e.cause == "merge"), None)
        if gone is None or not isinstance(wording, str):
            continue  # merged before events were kept: what it joined is not known
        kept = _wording([e for e in into if e.id < gone.id])
        if kept is not None:
            yield kept, wording


def _not_same(project_id: str, decision: _Decision) -> Iterator[tuple[str, str]]:
    """(the entry's wording, the suggested one's) that a person said are not the same."""
    a, b = (decision.wordings.get(i) for i in (decision.entry_id, decision.others[0]))
    if isinstance(a, str) and isinstance(b, str):
        yield a, b


def _split(project_id: str, decision: _Decision) -> Iterator[tuple[str, str]]:
    """(the wording the entry split from kept, each sentence split out)."""
    opened = next((e for e in _events(project_id, decision.new_id)
                   if e.kind == "opened" and e.cause == "split"), None)
    if opened is None:
        return
    left = _events(project_id, decision.entry_id)
    # The entry left changed in the split's second flush, the first after the new entry's.
    changed = next((e for e in left if e.id > opened.id), None)
    if changed is None or changed.cause != "split":
        return
    kept = _wording([e for e in left if e.id <= changed.id])
    if kept is None:
        return
    for sentence in db.session.scalars(select(ScanFinding.risk).where(
            ScanFinding.id.in_(list(decision.others))).order_by(ScanFinding.id)):
        yield kept, sentence


def _events(project_id: str, entry_id: int | None) -> list[_Event]:
    """An entry's events, oldest first (an entry merged away keeps its own)."""
    if entry_id is None:
        return []
    return [_Event(*row) for row in db.session.execute(
        select(RegisterEvent.id, RegisterEvent.kind, RegisterEvent.cause, RegisterEvent.changes)
        .where(RegisterEvent.project_id == project_id, RegisterEvent.entry_id == entry_id)
        .order_by(RegisterEvent.id))]


def _wording(events: list[_Event]) -> str | None:
    """The entry's wording after these events: the last one that set it."""
    return next((w for event in reversed(events) if (w := _set_wording(event))), None)


def _set_wording(event: _Event) -> str | None:
    """The wording this event gave its entry, if it changed it."""
    change = (event.changes or {}).get("risk")
    wording = change.get("to") if isinstance(change, dict) else None
    return wording if isinstance(wording, str) and wording.strip() else None


def _stated(project_id: str, wanted: set[str]) -> set[str]:
    """The words of ``wanted`` that a report of the project states, or that an entry added
    by hand types: one pass over the project's findings' sentences, as a stream."""
    found: set[str] = set()
    typed = select(RegisterEntry.risk).where(RegisterEntry.project_id == project_id,
                                             RegisterEntry.added_by_user.is_(True))
    reported = (select(ScanFinding.risk).join(Scan, Scan.id == ScanFinding.scan_id)
                .where(Scan.project_id == project_id))
    for statement in (typed, reported):
        for text in db.session.scalars(statement.execution_options(yield_per=_CHUNK)):
            if (words := sentence_key(text or "")) in wanted:
                found.add(words)
        if found == wanted:
            break
    return found


def pair_key(a: str, b: str) -> tuple[str, str] | None:
    """One pair whatever the case and spacing of its words and in either order; None where
    both sentences are the same words (nothing to learn)."""
    first, second = sorted((sentence_key(a or ""), sentence_key(b or "")))
    return None if first == second or not first else (first, second)
