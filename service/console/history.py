"""A register entry's history in words, for its page: each event of
GET …/risks/{id}/history as one sentence saying what changed, why and by whom."""

from __future__ import annotations

from service.console.pages import said

WHAT = {"opened": "Opened", "stated": "Stated again", "reopened": "Reopened",
        "moved": "Moved to another category", "unstated": "No report states it any more",
        "edited": "Changed", "merged": "Merged into another risk"}
WHY = {"report": "by a report", "edit": "by hand", "added": "added by hand",
       "correction": "by a correction of a finding", "review": "by a review of a correction",
       "dismissal": "by a dismissal", "merge": "by a merge", "split": "by a split",
       "deletion": "by a deletion", "membership": "as a member left",
       "redate": "as a report was dated again"}
FIELDS = {"risk": "wording", "category": "category", "status": "status",
          "owner_id": "owner", "due_date": "due date", "notes": "notes",
          "likelihood": "likelihood", "impact": "impact", "first_seen": "first seen",
          "last_seen": "last seen", "occurrences": "findings", "added_by_user": "added by hand"}
SHOWN = ("status", "category", "owner_id", "due_date", "likelihood", "impact", "occurrences")


def lines(events: list[dict], emails: dict[str, str]) -> list[dict]:
    """Each event as {at, what, who, scan_id, changes: [sentence…], note}."""
    return [{"at": event["at"], "what": f"{WHAT.get(event['kind'], event['kind'])} "
                                        f"{WHY.get(event['cause'], event['cause'])}",
             "who": _who(event.get("actor_id"), emails), "scan_id": event.get("scan_id"),
             "changes": [_change(name, change, emails)
                         for name, change in event.get("changes", {}).items()
                         if name in SHOWN and event["kind"] != "opened"],
             "note": event.get("note")}
            for event in events]


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
        return str(value)
    return f"{FIELDS[name]} {shown(change.get('from'))} → {shown(change.get('to'))}"
