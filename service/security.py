"""What every response carries for the browser's sake: CORS, security headers, and the
client address as seen through trusted proxies only."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, request
from flask.sessions import NullSession, SecureCookieSessionInterface
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

from service.config import DEVELOPMENT_CORS_ORIGINS, Settings
from service.errors import APIError

API_CSP = "default-src 'none'; frame-ancestors 'none'"
# Swagger UI: its own scripts and styles (it sets inline styles), data: images, the spec.
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'")
# The web console (/app): our own scripts and styles only, no inline script or style, forms
# posted to ourselves only, never framed.
CONSOLE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
CONSOLE_PATH = "/app"
HSTS = "max-age=31536000; includeSubDomains"
# Our access tokens are about 200 characters and API keys about 60: a longer Authorization
# header is refused before anything (rate limiter, token check, database) looks at it.
MAX_AUTHORIZATION_CHARS = 1024


class _NoSession(NullSession):
    def _fail(self, *args, **kwargs):
        raise RuntimeError("Riskscan keeps no cookie session: clients send bearer tokens.")

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _fail
    del _fail


def is_console(path: str) -> bool:
    return path == CONSOLE_PATH or path.startswith(CONSOLE_PATH + "/")


class NoCookieSessions(SecureCookieSessionInterface):
    """The API authenticates with bearer tokens and keeps no cookie session: no request's
    cookie is read or verified (Flask's default builds a signing serializer per request to
    do so), and ``flask.session`` refuses writes. The web console (/app) alone has a signed
    cookie session (service/console/session.py), ``Secure`` whenever the request came over
    TLS (through a trusted proxy's ``X-Forwarded-Proto``) or the settings say so."""

    null_session_class = _NoSession

    def open_session(self, app, request):
        if is_console(request.path):
            return super().open_session(app, request)
        return None  # Flask then uses make_null_session

    def get_cookie_secure(self, app) -> bool:
        return request.is_secure or super().get_cookie_secure(app)


def refuse_oversized_credentials() -> None:
    header = request.headers.get("Authorization")
    if header is not None and len(header) > MAX_AUTHORIZATION_CHARS:
        raise APIError(431, f"The Authorization header is longer than "
                            f"{MAX_AUTHORIZATION_CHARS} characters; no credential of this "
                            "service is.", headers={"WWW-Authenticate": "Bearer"})


def console_csp(settings: Settings) -> str:
    """The console's CSP. With an OpenID provider, its origin may receive the sign-out form
    too: signing out redirects there (RP-initiated logout), and browsers hold a form's
    redirects to form-action as well."""
    if not settings.OIDC_ISSUER:
        return CONSOLE_CSP
    parts = urlsplit(settings.OIDC_ISSUER)
    return CONSOLE_CSP.replace("form-action 'self'",
                               f"form-action 'self' {parts.scheme}://{parts.netloc}")


def init_app(app: Flask, settings: Settings) -> None:
    console_policy = console_csp(settings)
    app.session_interface = NoCookieSessions()
    # First of all the before-request hooks.
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_oversized_credentials)
    if settings.TRUSTED_PROXIES:
        # X-Forwarded-For/-Proto are believed only for the proxies we were told about, so
        # a client cannot pick its own address (and with it its rate-limit key).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.TRUSTED_PROXIES,
                                x_proto=settings.TRUSTED_PROXIES)
    origins = list(settings.CORS_ORIGINS or (DEVELOPMENT_CORS_ORIGINS if settings.development
                                             else ()))
    if origins:
        # Bearer tokens, not cookies: no credentials, so an origin list (or *) is safe.
        CORS(app, resources={r"/api/*": {"origins": origins}}, supports_credentials=False,
             allow_headers=["Authorization", "Content-Type", "X-Request-ID",
                            "Idempotency-Key"],
             expose_headers=["X-Request-ID", "Retry-After", "Idempotent-Replayed", "Location",
                             "X-RateLimit-Limit", "X-RateLimit-Remaining",
                             "X-RateLimit-Reset"],
             max_age=600)

    @app.after_request
    def security_headers(response):
        # Each header unless the view set its own; the response's names are read once
        # (werkzeug's setdefault scans them again for each: a twentieth of a list request).
        path = request.path
        is_docs = path == "/docs" or path.startswith("/docs/")
        console = is_console(path)
        wanted = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
                  # The console's forms need their origin in Referer: Flask-WTF checks it
                  # over TLS.
                  "Referrer-Policy": "same-origin" if console else "no-referrer",
                  "Content-Security-Policy": (DOCS_CSP if is_docs else console_policy
                                              if console else API_CSP)}
        if request.is_secure:
            wanted["Strict-Transport-Security"] = HSTS
        headers = response.headers
        present = set(headers.keys(lower=True))
        for name, value in wanted.items():
            if name.lower() not in present:
                headers.add(name, value)
        if not path.startswith(("/docs/assets/", CONSOLE_PATH + "/static/")):
            headers["Cache-Control"] = "no-store"
        return response
