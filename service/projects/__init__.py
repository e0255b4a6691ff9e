"""Projects: their members, their scans and their risk register (docs/register.md)."""


def init_app(app) -> None:
    """What the register keeps between requests, as the app's own (bounded_map.py); the
    invitations claimed at a sign-up or a single sign-on (invitations.py)."""
    from service.projects import direction_snapshots, invitations, reads

    direction_snapshots.init_app(app)
    reads.init_app(app)
    invitations.init_app(app)
