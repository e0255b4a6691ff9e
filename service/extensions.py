"""The Flask extensions, created unbound here and bound to an app in create_app."""

import contextlib
import logging

from apifairy import APIFairy
from flask import g
from flask_httpauth import HTTPTokenAuth
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_marshmallow import Marshmallow
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


class _Session(FlaskSession):
    """The ORM session, on the app context's connection where one is open (connection()):
    it then takes that connection's transaction as its own (``control_fully``: its commit
    and rollback are the connection's), so that a request holds one connection whichever
    of the two reads first. Closing it lets go of that connection too: the code that closes
    the session to hold no connection while a model runs (scans/create.py) still holds none.
    """

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        if bind is None and (joined := g.get(_CONNECTION)) is not None:
            return joined
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)

    def close(self) -> None:
        super().close()
        release_connection()


db = SQLAlchemy(model_class=Base, session_options={
    "class_": _Session, "join_transaction_mode": "control_fully"})
migrate = Migrate()
ma = Marshmallow()
apifairy = APIFairy()
token_auth = HTTPTokenAuth(scheme="Bearer")
limiter = Limiter(key_func=get_remote_address)

_CONNECTION = "riskscan_connection"  # g's attribute: the app context's connection


def connection() -> Connection:
    """The app context's database connection, for Core reads: the session's when it is in
    a transaction (so that a read sees its writes), else one opened here, which the session
    joins if it is used later. A request that only reads (the token check, the scans list)
    then never builds an ORM session, whose start and end cost more than the rest of its
    database work (docs/throughput.md: "a read builds no ORM session")."""
    registry = db.session.registry
    if registry.has() and (session := registry()).in_transaction():
        return session.connection()
    joined = g.get(_CONNECTION)
    if joined is None:
        joined = db.engine.connect()
        setattr(g, _CONNECTION, joined)
    return joined


def release_connection() -> None:
    """Close the app context's connection (back to the pool, its transaction rolled back);
    one that fails to close, the database gone, is invalidated instead."""
    joined = g.pop(_CONNECTION, None)
    if joined is None:
        return
    try:
        joined.close()
    except DBAPIError:
        with contextlib.suppress(SQLAlchemyError):
            joined.invalidate()  # the pool opens a new one


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
        release_connection()
    except DBAPIError as error:
        logging.getLogger("riskscan.errors").warning(
            "database connection lost while ending a request: %s",
            type(error.orig).__name__)
        try:
            db.session.registry().invalidate()
        except DBAPIError:
            pass  # nothing left to save: the connections are dropped with the session
        db.session.registry.clear()
        release_connection()
