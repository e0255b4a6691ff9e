"""The Flask extensions, created unbound here and bound to an app in create_app."""

import logging

from apifairy import APIFairy
from flask_httpauth import HTTPTokenAuth
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_marshmallow import Marshmallow
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
ma = Marshmallow()
apifairy = APIFairy()
token_auth = HTTPTokenAuth(scheme="Bearer")
limiter = Limiter(key_func=get_remote_address)


def end_session(_exc: BaseException | None = None) -> None:
    """End the request's database session, whatever became of its connection.

    Flask-SQLAlchemy ends each request with ``session.remove()``, which rolls back the open
    transaction on the session's connection. When the database died after the view had made
    its response (a restart, reliability/faults.py), that rollback raised out of Flask's
    teardown and waitress answered a bare 500 instead of the response. Here a failed close
    invalidates the session's connections instead (the pool opens new ones) and forgets the
    session, so the next request of the thread starts clean.
    """
    try:
        db.session.remove()
    except DBAPIError as error:
        logging.getLogger("riskscan.errors").warning(
            "database connection lost while ending a request: %s",
            type(error.orig).__name__)
        try:
            db.session.registry().invalidate()
        except DBAPIError:
            pass  # nothing left to save: the connections are dropped with the session
        db.session.registry.clear()
