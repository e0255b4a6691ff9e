"""``python -m service``: migrate the database, then serve on waitress."""

from __future__ import annotations

import logging
import sys

from service.config import ConfigError, Settings


def main() -> int:
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"riskscan: configuration error: {exc}", file=sys.stderr)
        return 2

    from flask_migrate import upgrade
    from waitress import serve

    from service import create_app

    app = create_app(settings)
    if settings.AUTO_MIGRATE:
        with app.app_context():
            upgrade()
    logging.getLogger("riskscan").info(
        "serving on http://%s:%s", settings.HOST, settings.PORT)
    serve(app, host=settings.HOST, port=settings.PORT, threads=settings.WAITRESS_THREADS,
          ident="riskscan")
    return 0


if __name__ == "__main__":
    sys.exit(main())
