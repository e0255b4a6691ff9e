"""Projects: their members, their scans and their risk register (docs/register.md)."""


def init_app(app) -> None:
    """What the register keeps between requests, as the app's own (kept.py)."""
    from service.projects import directions, reads

    directions.init_app(app)
    reads.init_app(app)
