"""Projects: their members, their scans and their risk register (docs/register.md)."""


def init_app(app) -> None:
    """What the register keeps between requests and follows (register/), the register's
    pages kept (queries.py, bounded_map.py); the invitations claimed at a sign-up or a
    single sign-on (invitations.py)."""
    from service.projects import invitations, queries, register

    register.init_app(app)
    queries.init_app(app)
    invitations.init_app(app)
