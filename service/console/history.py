"""A register entry's history in words, for its page: each event of
GET …/risks/{id}/history as one sentence saying what changed, why and by whom."""

from __future__ import annotations

from service.console.pages import said
from service.entry_fields import SAID

WHAT = {"opened": "Opened", "stated": "Stated again", "reopened": "Reopened",
        "moved": "Moved to another category", "unstated": "No report states it any more",
        "edited": "Changed", "merged": "Merged into another risk"}
WHY = {"report": "by a report", "edit": "by hand", "added": "added by hand",
       "correction": "by a correction of a finding", "review": "by a review of a correction",
       "dismissal": "by a dismissal", "merge": "by a merge", "split": "by a split",
       "deletion": "by a deletion", "membership": "as a member left",
       "redate": "as a report was dated again"}
FIELDS = SAID  # every change the API records is said (issue #85 item 3), in a person's words
SHOWN = tuple(FIELDS)
LONGEST = 120  # a wording or notes said in a change, at most this many characters


def lines(events: list[dict], emails: dict[str, str], entry_id: int | None = None
          ) -> list[dict]:
    """Each event as {at, what, who, scan_id, job_id, changes: [sentence…], note}: every
    field the event changed, but where it opened the entry (its fields are the entry's).
    An event of an entry merged into ``entry_id`` says so first, so that its "Opened by a
    report" is not read as a second opening of this one."""
    return [{"at": event["at"], "what": _merged_in(event, entry_id)
             + f"{WHAT.get(event['kind'], event['kind'])} "
               f"{WHY.get(event['cause'], event['cause'])}",
             "who": _who(event.get("actor_id"), emails), "scan_id": event.get("scan_id"),
             "job_id": event.get("job_id"),
             "changes": [_change(name, change, emails)
                         for name, change in event.get("changes", {}).items()
                         if name in SHOWN and event["kind"] != "opened"],
             "note": event.get("note")}
            for event in events]


def _merged_in(event: dict, entry_id: int | None) -> str:
    other = event.get("entry_id")
    if entry_id is None or other is None or other == entry_id:
        return ""
    return f"Risk {other} (merged into this one later): "


def _who(user_id: str | None, emails: dict[str, str]) -> str | None:
    if user_id is None:
        return None
    return emails.get(user_id, "a former member")


def _change(name: str, change: dict, emails: dict[str, str]) -> str:
    def shown(value):
        if value is None or value == "":
            return "none"
        if name == "category":
            return said(value)
        if name == "owner_id":
            return _who(value, emails)
        if name in ("risk", "notes"):
            text = " ".join(str(value).split())
            return f"“{text if len(text) <= LONGEST else text[:LONGEST - 1] + '…'}”"
        if name == "added_by_user":
            return "yes" if value else "no"
        return str(value)
    return f"{FIELDS[name]} {shown(change.get('from'))} → {shown(change.get('to'))}"
