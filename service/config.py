"""Settings: read from the environment in one place, typed, validated at start. A bad value
stops start-up with one line that names it (``ConfigError: PORT: expected an integer…``)."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from limits import parse_many

from service import rating
from service import setting_types as kinds
from service.analysis.cascade_model import BUDGET

ENVIRONMENTS = ("production", "development", "testing")
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEVELOPMENT_CORS_ORIGINS = ("http://localhost:5173", "http://localhost:3000")

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    """Every setting of the service; the field name is the environment variable."""

    RISKSCAN_ENV: str = kinds.setting("production", doc="production, development or testing")
    HOST: str = kinds.setting("127.0.0.1", doc="address waitress listens on")
    PORT: int = kinds.setting(8000, kinds.integer, "port waitress listens on")
    WAITRESS_THREADS: int = kinds.setting(8, kinds.integer, "request threads per process")
    SHUTDOWN_GRACE_S: float = kinds.setting(
        8.0, kinds.real, "seconds a SIGTERM leaves the requests in flight to finish before "
        "`python -m service` exits")
    DATABASE_URL: str = kinds.setting("", doc="SQLAlchemy URL; SQLite under instance/ when empty")
    AUTO_MIGRATE: bool = kinds.setting(True, kinds.boolean, "apply migrations when `python -m service` starts")
    SECRET_KEY: str = kinds.setting("", doc="signs tokens; required outside development")
    ACCESS_TOKEN_EXPIRE_MINUTES: int = kinds.setting(30, kinds.integer, "access token lifetime")
    REFRESH_TOKEN_EXPIRE_DAYS: int = kinds.setting(14, kinds.integer, "refresh token lifetime")
    REFRESH_TOKEN_MAX_DAYS: int = kinds.setting(
        90, kinds.integer, "a session's absolute lifetime: no refresh reaches past this many days "
        "after the login")
    MAX_UPLOAD_MB: float = kinds.setting(10.0, kinds.real, "largest request body (413 beyond)")
    MAX_JSON_KB: int = kinds.setting(64, kinds.integer, "largest JSON body outside scans (413 beyond)")
    MODEL_DIR: str = kinds.setting(
        "models_cache", doc="a trained model folder, or a models root whose `current` names "
        "one; `off` runs without the in-process model")
    MODEL_DEVICE: str = kinds.setting("auto", doc="auto (CUDA when available), cpu or cuda")
    MODEL_BATCH_SIZE: int = kinds.setting(32, kinds.integer, "most sentences per forward pass")
    MODEL_RUNTIME: str = kinds.setting(
        "auto", lambda v: v.strip().lower(),
        "auto (ONNX Runtime on the CPU, torch on CUDA), onnx (CPU only) or torch")
    MODEL_QUANTIZE: str = kinds.setting(
        "none", kinds.quantize,
        "none, or int8 (CPU only): in ONNX Runtime int8 after the first layers, in torch "
        "dynamic int8 of every Linear layer; onnx-int8 is the older spelling of int8")
    MODEL_MIN_SCORE: float | None = kinds.setting(
        None, kinds.score_or_auto, "report a sentence when its calibrated risk score reaches this "
        "(0–1); auto: the model's own operating point (its calibration.json)")
    POSSIBLE_FLOOR: float = kinds.setting(
        0.5, kinds.real, "the risk score (0–1) from which a scan that asks for include_possible "
        "gets the near misses: findings from here up to its operating point, each marked "
        "possible, counted nowhere until a person confirms one")
    MODEL_DYNAMIC_BATCHING: bool = kinds.setting(
        True, kinds.boolean, "concurrent scans share forward passes through one batching queue")
    MODEL_MAX_BATCH: int = kinds.setting(
        256, kinds.integer, "most sentences the batching queue puts in one classify call")
    MODEL_MAX_WAIT_MS: float = kinds.setting(
        0.0, kinds.real, "milliseconds the batching queue waits for more requests to join a batch")
    READER_DIR: str = kinds.setting(
        "auto", doc="the reader: a larger model that decides on the sentences the fast model "
        "passes on (docs/model.md#the-cascade); auto: the folder that the `reader` file of "
        "MODEL_DIR's root names, when there is one; a model folder or a models root; `off`")
    READER_QUANTIZE: str = kinds.setting(
        "auto", kinds.quantize, "the reader's precision on the CPU: auto (int8 when its folder holds "
        "the int8 graph that `python -m ml.cascade` checked, else fp32), int8 (ONNX Runtime's "
        "dynamic int8: that graph, or quantized at start) or none (fp32); on CUDA fp16")
    READER_SCREEN: float | None = kinds.setting(
        None, kinds.score_or_auto, "the fast model's risk score from which a sentence goes to the "
        "reader (0–1), one for every document; auto: the ones chosen for the reader (its "
        "screen.json: one, and one per document shape where it has them)")
    READER_BUDGET: float | None = kinds.setting(
        BUDGET, kinds.share_or_off, "the most of a document's sentences the reader reads: "
        "of those the screen passes, those the fast model is least sure of, the fast model "
        "answering the rest; `off`: all it passes (docs/model.md#the-cascade)")
    READER_TRAIN: bool = kinds.setting(False, kinds.boolean, "on: train the reader in the background where "
                                  "the machine can, then activate it through the gate "
                                  "(docs/operations.md#the-readers-background-training); `make run` sets on")
    # The test documents only fill the card (the gate reads the development documents):
    # their two passes are about six of the background path's minutes.
    READER_TRAIN_ARGS: str = kinds.setting("--epochs 1 --test-documents none",
                                           doc="its `python -m ml.reader` flags")
    MODEL_SYNC_S: float = kinds.setting(
        5.0, kinds.real, "seconds between a process's reads of the deployment's active model "
        "version, to follow an activation made elsewhere (docs/operations.md#models-activation-and-"
        "rollback); 0: never (the process serves what it loaded and what it activates)")
    REGISTER_MATCH_THRESHOLD: float = kinds.setting(
        0.62, kinds.real, "cosine similarity (−1–1) at which a finding joins a register entry of "
        "its category as the same risk; chosen on labelled pairs (docs/register.md)")
    RISK_LIKELIHOOD_LABELS: tuple = kinds.setting(
        rating.LIKELIHOOD_LABELS, rating.labels, "the words for a register entry's likelihood "
        "1–5, comma-separated (docs/register.md#ratings)")
    RISK_IMPACT_LABELS: tuple = kinds.setting(
        rating.IMPACT_LABELS, rating.labels, "the words for a register entry's impact 1–5, "
        "comma-separated")
    MAX_PROJECTS_PER_USER: int = kinds.setting(100, kinds.integer, "projects one user may own")
    MAX_PROJECT_MEMBERS: int = kinds.setting(200, kinds.integer, "members of one project")
    INVITATION_TTL_DAYS: int = kinds.setting(14, kinds.integer, "days an invitation waits to be claimed")
    UPLOAD_DIR: str = kinds.setting("", doc="where original files are kept; instance/uploads when empty")
    MAX_DOCUMENT_CHARS: int = kinds.setting(200_000, kinds.integer, "longest text analysed (413 beyond)")
    MAX_PDF_PAGES: int = kinds.setting(300, kinds.integer, "most pages of a PDF (413 beyond)")
    EXTRACTION_TIMEOUT_S: float = kinds.setting(
        30.0, kinds.real, "seconds a worker process may take to read one upload (422 beyond)")
    EXTRACTIONS_PER_USER: int = kinds.setting(
        1, kinds.integer, "uploads of one user read at once; the next is a 429 until one is done")
    MAX_JOB_DOCUMENTS: int = kinds.setting(200, kinds.integer, "most documents in one batch job (413 beyond)")
    MAX_JOB_MB: float = kinds.setting(
        100.0, kinds.real, "largest batch job request, all files or the archive (413 beyond); "
        "each document within MAX_UPLOAD_MB")
    JOB_WORKERS: int = kinds.setting(
        2, kinds.integer, "threads running batch jobs' documents in the service process, when no "
        "CELERY_BROKER_URL is set")
    CELERY_BROKER_URL: str = kinds.setting(
        "", doc="redis://… : batch jobs run on Celery workers (`celery -A service.jobs "
        "worker`) instead of in the service process")
    CELERY_VISIBILITY_TIMEOUT_S: int = kinds.setting(
        600, kinds.integer, "seconds before Redis hands a task whose worker died to another worker; "
        "keep above the longest scan")
    TRAINING_MIN_CORRECTIONS: int = kinds.setting(
        20, kinds.integer, "distinct corrected or added sentences a training from corrections needs "
        "(422 below; docs/operations.md#training-from-corrections)")
    TRAINING_REPLAY: int = kinds.setting(
        2000, kinds.integer, "sentences of the original training data a training from corrections "
        "replays beside them, so that the model forgets nothing else")
    TRAINING_EPOCHS: int = kinds.setting(2, kinds.integer, "passes of a training from corrections")
    REVIEW_FOUR_EYES: bool = kinds.setting(False, kinds.boolean, "a reviewer's (an admin's) own corrections "
                                      "wait for another reviewer, who alone decides them")
    TRAINING_DOCUMENTS: bool = kinds.setting(
        True, kinds.boolean, "a training from corrections calibrates on, and measures, the standard "
        "development and test documents (minutes); off: its sentences' figures alone")
    TRAINING_DATA_DIR: str = kinds.setting(
        "", doc="the train/validation/test.jsonl a training from corrections replays and "
        "measures on; ml/data when empty")
    WEBHOOK_ALLOWED_NETWORKS: tuple = kinds.setting(
        (), kinds.networks, "networks webhooks may be sent to although they are loopback, private, "
        "link-local or metadata addresses, comma-separated (default none: public addresses "
        "only)")
    WEBHOOK_TIMEOUT_S: float = kinds.setting(
        5.0, kinds.real, "seconds a webhook attempt may take all told: connecting, the request "
        "and the whole answer; beyond, it failed and is retried")
    WEBHOOK_RETRY_HOURS: float = kinds.setting(
        24.0, kinds.real, "hours a webhook delivery is retried (exponential backoff with jitter) "
        "before it is given up")
    WEBHOOK_DELIVERY_RETENTION_DAYS: int = kinds.setting(
        30, kinds.integer, "days a webhook delivery is kept after its last attempt once delivered or "
        "failed; then it is deleted")
    WEBHOOK_SECRET_OVERLAP_HOURS: float = kinds.setting(
        24.0, kinds.real, "hours after a webhook's secret is rotated during which its deliveries "
        "are signed with the secrets it replaced too (0: the new one only, at once)")
    LLM_BASE_URL: str = kinds.setting("", doc="OpenAI-compatible API root, e.g. https://api.openai.com/v1")
    LLM_API_KEY: str = kinds.setting("", doc="sent as `Authorization: Bearer`; never logged")
    LLM_MODEL: str = kinds.setting("", doc="model name sent to the LLM and stored as the scan's version")
    LLM_TIMEOUT_S: float = kinds.setting(60.0, kinds.real, "seconds for one LLM call, start to end (504 beyond)")
    LLM_SCAN_TIMEOUT_S: float = kinds.setting(
        180.0, kinds.real, "seconds for all the LLM calls of one scan together (504 beyond)")
    LLM_MAX_RESPONSE_KB: int = kinds.setting(1024, kinds.integer, "largest LLM answer accepted (502 beyond)")
    LLM_CHUNK_CHARS: int = kinds.setting(8000, kinds.integer, "characters of text per LLM call")
    CORS_ORIGINS: tuple = kinds.setting(
        (), kinds.csv, "origins allowed to call the API from a browser, comma-separated; "
        "in development http://localhost:5173 and http://localhost:3000 when empty")
    TRUSTED_PROXIES: int = kinds.setting(0, kinds.integer, "reverse proxies in front whose X-Forwarded-For "
                                    "and X-Forwarded-Proto are believed (0: none)")
    RATE_LIMIT_ENABLED: bool = kinds.setting(True, kinds.boolean, "switch rate limiting off (tests, benchmarks)")
    RATE_LIMIT_STORAGE_URI: str = kinds.setting(
        "memory://", doc="memory:// (one process) or redis://host:6379 (shared by processes)")
    RATE_LIMIT_LOGIN_ACCOUNT: str = kinds.setting(
        "5 per minute", doc="password guesses (failed logins, wrong current_password) per account")
    RATE_LIMIT_LOGIN_ADDRESS: str = kinds.setting(
        "20 per minute", doc="password guesses per client address")
    RATE_LIMIT_REGISTER_ADDRESS: str = kinds.setting("20 per hour", doc="registrations per address")
    RATE_LIMIT_REGISTER_EMAIL: str = kinds.setting("5 per hour", doc="registration attempts per email")
    RATE_LIMIT_SCANS: str = kinds.setting("30 per minute", doc="scans per user")
    RATE_LIMIT_WEBHOOK_TARGETS: str = kinds.setting(
        "30 per hour", doc="webhook URLs set (a webhook made, its url changed) and pings per "
        "user, one budget")
    RATE_LIMIT_CORRECTIONS: str = kinds.setting(
        "60 per minute", doc="corrections and added risks per user")
    METRICS_ALLOWED_NETWORKS: tuple = kinds.setting(
        (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")), kinds.networks,
        "client networks /metrics answers, comma-separated (the client address as seen through "
        "TRUSTED_PROXIES); `none`: by token only")
    METRICS_TOKEN: str = kinds.setting("", doc="a scraper sending `Authorization: Bearer` with this "
                                          "token gets /metrics from any address")
    AUTH_LOCAL: bool = kinds.setting(
        True, kinds.boolean, "accounts with a Riskscan password; false: only single sign-on, but the "
        "AUTH_BREAK_GLASS_ADMINS (docs/sso.md)")
    AUTH_BREAK_GLASS_ADMINS: tuple = kinds.setting(
        (), lambda v: tuple(e.strip().lower() for e in kinds.csv(v)),
        "emails of local admins who may sign in with a password when AUTH_LOCAL=false")
    OIDC_ISSUER: str = kinds.setting("", doc="the OpenID provider's issuer URL; empty: no OpenID "
                                        "Connect sign-in")
    OIDC_CLIENT_ID: str = kinds.setting("", doc="Riskscan's client id at the provider")
    OIDC_CLIENT_SECRET: str = kinds.setting("", doc="its client secret (empty: a public client, "
                                               "PKCE only)")
    OIDC_NAME: str = kinds.setting("your company", doc="the sign-in button's words: "
                                                  "\"Sign in with <name>\"")
    OIDC_GROUPS_CLAIM: str = kinds.setting("groups", doc="the ID token claim that lists a "
                                                    "person's groups")
    OIDC_ADMIN_GROUPS: tuple = kinds.setting((), kinds.csv, "provider groups whose members are admins")
    OIDC_ALLOWED_GROUPS: tuple = kinds.setting(
        (), kinds.csv, "provider groups whose members may sign in (empty: everyone the provider "
        "lets in)")
    OIDC_API_AUDIENCE: str = kinds.setting(
        "", doc="set: the API accepts the provider's bearer JWTs issued to this audience")
    OIDC_LINK_LOCAL_ACCOUNTS: bool = kinds.setting(
        False, kinds.boolean, "a provider's verified email may take over the local account of that "
        "email (false: such a sign-in is refused)")
    LDAP_URL: str = kinds.setting("", doc="ldaps://host:636, or ldap://host:389 with StartTLS; "
                                     "empty: no directory sign-in")
    LDAP_BIND_DN: str = kinds.setting("", doc="the account that searches for a person")
    LDAP_BIND_PASSWORD: str = kinds.setting("", doc="its password")
    LDAP_USER_BASE: str = kinds.setting("", doc="where people are searched")
    LDAP_USER_FILTER: str = kinds.setting(
        "(|(mail={login})(uid={login}))", doc="the search, {login} being what was typed "
        "(escaped)")
    LDAP_ADMIN_GROUP: str = kinds.setting("", doc="DN of the group whose members are admins")
    LDAP_ALLOWED_GROUP: str = kinds.setting("", doc="DN of the group whose members may sign in "
                                               "(empty: everyone found)")
    LDAP_CA_FILE: str = kinds.setting("", doc="CA certificate(s) the directory's TLS certificate "
                                         "is checked against (empty: the system's)")
    LDAP_EMAIL_VERIFIED: bool = kinds.setting(False, kinds.boolean, "a directory's mail claims invitations "
                                         "as a verified email (only where people cannot edit it)")
    SSO_TIMEOUT_S: float = kinds.setting(5.0, kinds.real, "seconds an identity provider or directory "
                                                 "may take to answer")
    SMTP_HOST: str = kinds.setting("", doc="the SMTP relay mail goes through (docs/operations.md"
                                          "#mail); empty: Riskscan sends no mail")
    SMTP_PORT: int = kinds.setting(587, kinds.integer, "its port (587 STARTTLS, 465 TLS, 25)")
    SMTP_SECURITY: str = kinds.setting(
        "starttls", lambda v: v.strip().lower(), "starttls, tls (implicit, port 465) or none "
        "(only to a relay on loopback)")
    SMTP_USERNAME: str = kinds.setting("", doc="the relay's login (empty: none)")
    SMTP_PASSWORD: str = kinds.setting("", doc="its password; never logged")
    SMTP_CA_FILE: str = kinds.setting("", doc="CA certificate(s) the relay's TLS certificate "
                                              "is checked against (empty: the system's)")
    SMTP_TIMEOUT_S: float = kinds.setting(10.0, kinds.real, "seconds one connection to the relay "
                                                            "may take all told")
    MAIL_FROM: str = kinds.setting("", doc="the sender, e.g. Riskscan <riskscan@example.com>; "
                                          "required with SMTP_HOST")
    MAIL_RETRY_HOURS: float = kinds.setting(
        24.0, kinds.real, "hours a message is retried while the relay is down (exponential "
        "backoff) before it is given up, shown to admins")
    PUBLIC_URL: str = kinds.setting("", doc="where people reach the service, for the links in "
                                           "mail made outside a request (a report's job, the "
                                           "due dates' pass); empty: http://HOST:PORT")
    LOG_LEVEL: str = kinds.setting("INFO", lambda v: v.strip().upper(), "Python log level")
    LOG_FORMAT: str = kinds.setting("json", doc="json or text")

    def __post_init__(self) -> None:
        checks = {
            "RISKSCAN_ENV": self.RISKSCAN_ENV in ENVIRONMENTS,
            "LOG_FORMAT": self.LOG_FORMAT in LOG_FORMATS,
            "LOG_LEVEL": self.LOG_LEVEL in LOG_LEVELS,
            "PORT": 0 <= self.PORT <= 65535,
            "WAITRESS_THREADS": self.WAITRESS_THREADS >= 1,
            "SHUTDOWN_GRACE_S": 0 <= self.SHUTDOWN_GRACE_S <= 3600,
            "ACCESS_TOKEN_EXPIRE_MINUTES": self.ACCESS_TOKEN_EXPIRE_MINUTES >= 1,
            "REFRESH_TOKEN_EXPIRE_DAYS": self.REFRESH_TOKEN_EXPIRE_DAYS >= 1,
            "REFRESH_TOKEN_MAX_DAYS": self.REFRESH_TOKEN_MAX_DAYS >= self.REFRESH_TOKEN_EXPIRE_DAYS,
            "MAX_UPLOAD_MB": self.MAX_UPLOAD_MB > 0,
            "MAX_JSON_KB": self.MAX_JSON_KB >= 1,
            "MODEL_DEVICE": self.MODEL_DEVICE in ("auto", "cpu", "cuda"),
            "MODEL_BATCH_SIZE": self.MODEL_BATCH_SIZE >= 1,
            "MODEL_RUNTIME": self.MODEL_RUNTIME in ("auto", "onnx", "torch"),
            "MODEL_QUANTIZE": self.MODEL_QUANTIZE in ("none", "int8"),
            "MODEL_MAX_BATCH": self.MODEL_MAX_BATCH >= 1,
            "POSSIBLE_FLOOR": 0 <= self.POSSIBLE_FLOOR <= 1,
            "MODEL_MAX_WAIT_MS": 0 <= self.MODEL_MAX_WAIT_MS <= 1000,
            "MODEL_SYNC_S": 0 <= self.MODEL_SYNC_S <= 3600,
            "READER_QUANTIZE": self.READER_QUANTIZE in ("auto", "none", "int8"),
            "REGISTER_MATCH_THRESHOLD": -1 <= self.REGISTER_MATCH_THRESHOLD <= 1,
            "MAX_PROJECTS_PER_USER": self.MAX_PROJECTS_PER_USER >= 1,
            "MAX_PROJECT_MEMBERS": self.MAX_PROJECT_MEMBERS >= 1,
            "INVITATION_TTL_DAYS": 1 <= self.INVITATION_TTL_DAYS <= 365,
            "MAX_DOCUMENT_CHARS": self.MAX_DOCUMENT_CHARS >= 1,
            "MAX_PDF_PAGES": self.MAX_PDF_PAGES >= 1,
            "EXTRACTION_TIMEOUT_S": self.EXTRACTION_TIMEOUT_S > 0,
            "EXTRACTIONS_PER_USER": self.EXTRACTIONS_PER_USER >= 1,
            "MAX_JOB_DOCUMENTS": self.MAX_JOB_DOCUMENTS >= 1,
            "MAX_JOB_MB": self.MAX_JOB_MB > 0,
            "JOB_WORKERS": 1 <= self.JOB_WORKERS <= 64,
            "TRAINING_MIN_CORRECTIONS": self.TRAINING_MIN_CORRECTIONS >= 1,
            "TRAINING_REPLAY": self.TRAINING_REPLAY >= 1,
            "TRAINING_EPOCHS": 1 <= self.TRAINING_EPOCHS <= 20,
            "CELERY_BROKER_URL": self.CELERY_BROKER_URL == ""
            or self.CELERY_BROKER_URL.startswith(("redis://", "rediss://", "amqp://",
                                                  "memory://")),
            "CELERY_VISIBILITY_TIMEOUT_S": self.CELERY_VISIBILITY_TIMEOUT_S >= 10,
            "WEBHOOK_TIMEOUT_S": 0 < self.WEBHOOK_TIMEOUT_S <= 60,
            "WEBHOOK_RETRY_HOURS": 0 <= self.WEBHOOK_RETRY_HOURS <= 24 * 7,
            "WEBHOOK_SECRET_OVERLAP_HOURS": 0 <= self.WEBHOOK_SECRET_OVERLAP_HOURS <= 24 * 30,
            "WEBHOOK_DELIVERY_RETENTION_DAYS": self.WEBHOOK_DELIVERY_RETENTION_DAYS >= 1,
            "LLM_BASE_URL": self.LLM_BASE_URL == ""
            or self.LLM_BASE_URL.startswith(("http://", "https://")),
            "LLM_MODEL": len(self.LLM_MODEL) <= 128,
            "LLM_TIMEOUT_S": self.LLM_TIMEOUT_S > 0,
            "LLM_SCAN_TIMEOUT_S": self.LLM_SCAN_TIMEOUT_S > 0,
            "LLM_MAX_RESPONSE_KB": self.LLM_MAX_RESPONSE_KB >= 1,
            "LLM_CHUNK_CHARS": self.LLM_CHUNK_CHARS >= 500,
            "TRUSTED_PROXIES": 0 <= self.TRUSTED_PROXIES <= 10,
            "METRICS_TOKEN": self.METRICS_TOKEN == "" or len(self.METRICS_TOKEN) >= 16,
            "OIDC_ISSUER": self.OIDC_ISSUER == ""
            or self.OIDC_ISSUER.startswith(("http://", "https://")),
            "OIDC_CLIENT_ID": bool(self.OIDC_CLIENT_ID) or not self.OIDC_ISSUER,
            "OIDC_API_AUDIENCE": not self.OIDC_API_AUDIENCE or bool(self.OIDC_ISSUER),
            "LDAP_URL": self.LDAP_URL == "" or self.LDAP_URL.startswith(("ldap://", "ldaps://")),
            "LDAP_USER_FILTER": "{login}" in self.LDAP_USER_FILTER,
            "SSO_TIMEOUT_S": 0 < self.SSO_TIMEOUT_S <= 60,
            "SMTP_PORT": 0 < self.SMTP_PORT <= 65535,
            "SMTP_SECURITY": self.SMTP_SECURITY in ("starttls", "tls")
            or (self.SMTP_SECURITY == "none" and _loopback(self.SMTP_HOST or "localhost")),
            "SMTP_TIMEOUT_S": 0 < self.SMTP_TIMEOUT_S <= 120,
            "MAIL_FROM": not self.SMTP_HOST or "@" in self.MAIL_FROM,
            "MAIL_RETRY_HOURS": 0 <= self.MAIL_RETRY_HOURS <= 24 * 7,
            "PUBLIC_URL": self.PUBLIC_URL == ""
            or self.PUBLIC_URL.startswith(("http://", "https://")),
            "DATABASE_URL": kinds.database_url_usable(self.DATABASE_URL),
        }
        for name, ok in checks.items():
            if name == "DATABASE_URL" and not ok:  # its value may hold a password
                raise ConfigError("DATABASE_URL: not a database URL of an installed driver "
                                  "(sqlite:///…, mysql+pymysql://…)")
            if not ok:
                raise ConfigError(f"{name}: invalid value {getattr(self, name)!r}")
        for name in ("RATE_LIMIT_LOGIN_ACCOUNT", "RATE_LIMIT_LOGIN_ADDRESS",
                     "RATE_LIMIT_REGISTER_ADDRESS", "RATE_LIMIT_REGISTER_EMAIL",
                     "RATE_LIMIT_SCANS", "RATE_LIMIT_CORRECTIONS",
                     "RATE_LIMIT_WEBHOOK_TARGETS"):
            try:
                parse_many(getattr(self, name))
            except ValueError:
                raise ConfigError(f"{name}: not a rate limit like '5 per minute': "
                                  f"{getattr(self, name)!r}") from None
        reader = self.reader_path
        if reader is not None and self.READER_DIR.lower() != "auto" and not reader.exists():
            raise ConfigError(f"READER_DIR: {reader} does not exist (train a reader with "
                              "`make reader`, or set READER_DIR=off)")
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
        return cls(**values).with_derived_defaults()

    def with_derived_defaults(self) -> Settings:
        """Fill the values whose defaults depend on other settings."""
        derived = {}
        if not self.DATABASE_URL:
            derived["DATABASE_URL"] = f"sqlite:///{PROJECT_ROOT / 'instance' / 'riskscan.db'}"
        if not self.UPLOAD_DIR:
            derived["UPLOAD_DIR"] = str(PROJECT_ROOT / "instance" / "uploads")
        if not self.SECRET_KEY:
            # Development only (validated above): tokens die with the process.
            derived["SECRET_KEY"] = secrets.token_urlsafe(32)
        return dataclasses.replace(self, **derived) if derived else self

    @property
    def mail(self) -> bool:
        """Whether Riskscan sends mail (SMTP_HOST set)."""
        return bool(self.SMTP_HOST)

    @property
    def development(self) -> bool:
        return self.RISKSCAN_ENV == "development"

    @property
    def model_path(self) -> Path | None:
        """MODEL_DIR as a path (relative ones from the project root); None when off."""
        return None if self.MODEL_DIR.lower() == "off" else _rooted(self.MODEL_DIR)

    @property
    def reader_path(self) -> Path | None:
        """READER_DIR as a path: the one it names, or with ``auto`` MODEL_DIR's root (whose
        ``reader`` file may name one); None when off or when the model is off."""
        if self.READER_DIR.lower() == "off" or self.model_path is None:
            return None
        return self.model_path if self.READER_DIR.lower() == "auto" else _rooted(self.READER_DIR)

    @classmethod
    def documentation(cls) -> list[tuple[str, object, str]]:
        """(variable, default, meaning) for every setting: the table of docs/configuration.md."""
        return [(f.name, f.default, f.metadata["doc"]) for f in dataclasses.fields(cls)]


def _loopback(host: str) -> bool:
    """A relay on this machine: the only one plain SMTP (SMTP_SECURITY=none) may reach."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _rooted(value: str) -> Path:  # a path setting: relative ones from the project root
    path = Path(value)
    return path if path.is_absolute() else PROJECT_ROOT / path


def current_settings(app=None) -> Settings:
    """The app's (the current app's) settings: the one place reading Flask's config."""
    from flask import current_app

    return (app or current_app).config["SETTINGS"]
