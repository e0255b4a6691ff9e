"""Projects: their members, their scans and their risk register (docs/register.md)."""


def init_app(app) -> None:
    """What the register keeps between requests, as the app's own (bounded_map.py); the
    invitations claimed at a sign-up or a single sign-on (invitations.py); a review's
    changes of findings' labels followed in the register (relabel.py)."""
    from service.projects import direction_snapshots, invitations, queries, relabel
    from service.serving import corrections

    direction_snapshots.init_app(app)
    queries.init_app(app)
    invitations.init_app(app)
    # A review that changes findings' labels moves them in their registers (relabel.py).
    corrections.reviewing.connect(relabel.lock_for_review)
    corrections.relabelled.connect(relabel.follow_review)
