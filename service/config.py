"""Settings: read from the environment in one place, typed, validated at start.

A bad value stops start-up with one line that names the variable
(``ConfigError: PORT: expected an integer, got 'eighty'``).
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ENVIRONMENTS = ("production", "development", "testing")
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEVELOPMENT_CORS_ORIGINS = ("http://localhost:5173", "http://localhost:3000")

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _text(value: str) -> str:
    return value.strip()


def _int(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"expected an integer, got {value!r}") from None


def _float(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"expected a number, got {value!r}") from None


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _csv(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _setting(default, parse=_text, doc: str = ""):
    return field(default=default, metadata={"parse": parse, "doc": doc})


@dataclass(frozen=True)
class Settings:
    """Every setting of the service; the field name is the environment variable."""

    RISKSCAN_ENV: str = _setting("production", doc="production, development or testing")
    HOST: str = _setting("127.0.0.1", doc="address waitress listens on")
    PORT: int = _setting(8000, _int, "port waitress listens on")
    WAITRESS_THREADS: int = _setting(8, _int, "request threads per process")
    DATABASE_URL: str = _setting("", doc="SQLAlchemy URL; SQLite under instance/ when empty")
    AUTO_MIGRATE: bool = _setting(True, _bool, "apply migrations when `python -m service` starts")
    SECRET_KEY: str = _setting("", doc="signs tokens; required outside development")
    ACCESS_TOKEN_EXPIRE_MINUTES: int = _setting(30, _int, "access token lifetime")
    REFRESH_TOKEN_EXPIRE_DAYS: int = _setting(14, _int, "refresh token lifetime")
    MAX_UPLOAD_MB: float = _setting(10.0, _float, "largest request body (413 beyond)")
    MAX_JSON_KB: int = _setting(64, _int, "largest JSON body outside scans (413 beyond)")
    LOG_LEVEL: str = _setting("INFO", lambda v: v.strip().upper(), "Python log level")
    LOG_FORMAT: str = _setting("json", doc="json or text")

    def __post_init__(self) -> None:
        checks = {
            "RISKSCAN_ENV": self.RISKSCAN_ENV in ENVIRONMENTS,
            "LOG_FORMAT": self.LOG_FORMAT in LOG_FORMATS,
            "LOG_LEVEL": self.LOG_LEVEL in LOG_LEVELS,
            "PORT": 0 <= self.PORT <= 65535,
            "WAITRESS_THREADS": self.WAITRESS_THREADS >= 1,
            "ACCESS_TOKEN_EXPIRE_MINUTES": self.ACCESS_TOKEN_EXPIRE_MINUTES >= 1,
            "REFRESH_TOKEN_EXPIRE_DAYS": self.REFRESH_TOKEN_EXPIRE_DAYS >= 1,
            "MAX_UPLOAD_MB": self.MAX_UPLOAD_MB > 0,
            "MAX_JSON_KB": self.MAX_JSON_KB >= 1,
        }
        for name, ok in checks.items():
            if not ok:
                raise ConfigError(f"{name}: invalid value {getattr(self, name)!r}")
        if not self.SECRET_KEY and self.RISKSCAN_ENV == "production":
            raise ConfigError(
                "SECRET_KEY: required when RISKSCAN_ENV=production "
                "(set RISKSCAN_ENV=development for a local run)"
            )
        if self.SECRET_KEY and len(self.SECRET_KEY) < 16:
            raise ConfigError("SECRET_KEY: must be at least 16 characters")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> Settings:
        """Build settings from ``environ`` (default: os.environ), then ``overrides``."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in dataclasses.fields(cls):
            if f.name in overrides:
                values[f.name] = overrides.pop(f.name)
            elif environ.get(f.name, "").strip():
                try:
                    values[f.name] = f.metadata["parse"](environ[f.name])
                except ValueError as exc:
                    raise ConfigError(f"{f.name}: {exc}") from None
        if overrides:
            raise ConfigError(f"unknown settings: {', '.join(sorted(overrides))}")
        settings = cls(**values)
        return settings.with_derived_defaults()

    def with_derived_defaults(self) -> Settings:
        """Fill the values whose defaults depend on other settings."""
        derived = {}
        if not self.DATABASE_URL:
            derived["DATABASE_URL"] = f"sqlite:///{PROJECT_ROOT / 'instance' / 'riskscan.db'}"
        if not self.SECRET_KEY:
            # Development only (validated above): tokens die with the process.
            derived["SECRET_KEY"] = secrets.token_urlsafe(32)
        return dataclasses.replace(self, **derived) if derived else self

    @property
    def development(self) -> bool:
        return self.RISKSCAN_ENV == "development"

    @classmethod
    def documentation(cls) -> list[tuple[str, object, str]]:
        """(variable, default, meaning) for every setting: the README's table."""
        return [(f.name, f.default, f.metadata["doc"]) for f in dataclasses.fields(cls)]
