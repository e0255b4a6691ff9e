"""The Flask extensions, created unbound here and bound to an app in create_app."""

from apifairy import APIFairy
from flask_httpauth import HTTPTokenAuth
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_marshmallow import Marshmallow
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
ma = Marshmallow()
apifairy = APIFairy()
token_auth = HTTPTokenAuth(scheme="Bearer")
limiter = Limiter(key_func=get_remote_address)
