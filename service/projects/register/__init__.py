"""The risk register: each finding of a project's scans joins the entry that states the same
risk, or opens one; people mend it by hand (docs/register.md).

This package is the only code that changes an entry. Outside it, a caller holds a project's
register (``hold``) and calls one of its verbs (``Held``), or forgets deleted reports
(``forget_reports``); the rest here are reads. Its parts, called in one direction: verbs.py
→ curation.py, relabel.py, suggestions.py, forgetting.py → entries.py (findings join and
leave entries, under the lock) → matching.py, dismissals.py, closing.py,
direction_snapshots.py; entry_events.py records every change as an event with its cause.
tests/test_architecture.py holds the other modules to that.
"""

from service.projects.register.curation import changes, merged_into
from service.projects.register.entry_events import history
from service.projects.register.suggestions import for_entries, listed, not_itself
from service.projects.register.verbs import Held, forget_reports, hold

__all__ = ["Held", "changes", "for_entries", "forget_reports", "history", "hold", "init_app",
           "listed", "merged_into", "not_itself"]


def init_app(app) -> None:
    """What the register keeps between requests, as the app's own (direction_snapshots.py),
    and a review's changes of findings' labels followed in it (relabel.py)."""
    from service.projects.register import direction_snapshots, relabel
    from service.serving import corrections

    direction_snapshots.init_app(app)
    corrections.reviewing.connect(relabel.lock_for_review)
    corrections.relabelled.connect(relabel.follow_review)
