"""Schemathesis against the service's own OpenAPI spec: what the spec promises, the service does.

Runs schemathesis' engine (what ``schemathesis run`` runs) over HTTP on 127.0.0.1 against
the app on waitress, authenticated as a registered user (a bearer token fetched from
``POST /api/v1/auth/login``, fetched again after a 401, since generated calls to logout
revoke it). Every phase — examples, coverage, fuzzing with positive and negative data, and
stateful sequences along the links schemathesis infers from the spec — with every
built-in check. Uploads in the multipart scan form are real documents of the media types
the spec names (text, markdown, HTML, PDF), so that positive cases can succeed.

    python -m reliability.contract --max-examples 100       # the long run (make reliability)
    python -m reliability.contract --operation "POST /api/v1/jobs"   # one operation's cases

The in-process WSGI transport of schemathesis 4.32 breaks on its own auth probes (it passes
``max_redirects`` to werkzeug), hence HTTP on loopback.
"""

from __future__ import annotations

import argparse
import collections
import html
import sys
import time
from dataclasses import dataclass, field

from hypothesis import strategies as st

#: Every generated call is counted; the CI test asks for at least this many per backend.
MIN_CASES = 500

PASSWORD = "correct horse battery"

# Sentences of the fake LLM's answers (testkit/llm_server.py), so that force_llm scans find some.
LLM_RISKS = {
    "The vendor may fail to deliver the servers before the go-live date.": "schedule",
    "Data protection obligations under GDPR have not been reviewed by legal.": "compliance",
}

_PLAIN = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
_WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ.,;:!?-'0123456789",
                 min_size=1, max_size=200).filter(lambda t: t.strip())


def _non_blank(text: str) -> bool:
    # Not blank, and not something that text detection reads as another kind of document.
    return bool(text.strip()) and not text.lstrip().lower().startswith(("<", "%pdf-"))


def _pdf(sentences: list[str]) -> bytes:
    from testkit.documents import make_pdf

    return make_pdf(sentences)


def _zip(texts: list[str]) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for number, text in enumerate(texts, 1):
            archive.writestr(f"documents/document-{number}.txt", text)
    return buffer.getvalue()


def _html(paragraphs: list[str]) -> bytes:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    return f"<!DOCTYPE html><html><head><title>t</title></head><body>{body}</body></html>".encode()


#: Operations issue 48's fixes added or changed: a run of the whole spec must send each
#: some cases (a spec that lost one, or a run that never reached it, fails).
MUST_EXERCISE = ("POST /api/v1/scans", "GET /api/v1/scans",
                 "POST /api/v1/scans/{scan_id}/findings",
                 "GET /api/v1/scans/{scan_id}/findings/{finding_id}",
                 "PATCH /api/v1/scans/{scan_id}/findings/{finding_id}",
                 "DELETE /api/v1/scans/{scan_id}/findings/{finding_id}",
                 "DELETE /api/scans/{scan_id}", "GET /api/v1/jobs/{job_id}",
                 "POST /api/v1/projects/{project_id}/webhooks",
                 "POST /api/v1/admin/models/rollback")

_registered = False


def register_document_strategies() -> None:
    """Files of the media types the multipart scan form names (encoding.file.contentType).

    Schemathesis sends what is registered for a media type as that part's content; docx is
    left out: schemathesis names a zip-signed part ``file.zip``, which the service rightly
    refuses (415), and docx uploads have their own tests.
    """
    global _registered
    if _registered:
        return
    import schemathesis

    text = st.text(alphabet=_PLAIN, min_size=1, max_size=300).filter(_non_blank)
    schemathesis.openapi.media_type("text/plain", text.map(str.encode))
    schemathesis.openapi.media_type("text/markdown", text.map(lambda t: f"# Notes\n\n{t}".encode()))
    schemathesis.openapi.media_type("text/html", st.lists(_WORDS, min_size=1, max_size=4).map(_html))
    schemathesis.openapi.media_type("application/pdf",
                                    st.lists(_WORDS, min_size=1, max_size=4).map(_pdf))
    # A batch job's archive (POST /api/v1/jobs, encoding.archive.contentType): a real .zip
    # of text documents, as the service reads it (random bytes are rightly a 422).
    schemathesis.openapi.media_type("application/zip",
                                    st.lists(text, min_size=1, max_size=3).map(_zip))
    _registered = True


def config_for(email: str, *, max_examples: int, stateful_steps: int, seed: int,
               max_failures: int = 100):
    """The schemathesis configuration: everything on, authenticated as ``email``."""
    from schemathesis.config import SchemathesisConfig

    return SchemathesisConfig.from_dict({
        "seed": seed,
        "max-failures": max_failures,
        "cache": {"enabled": False},
        "generation": {"max-examples": max_examples, "database": "none", "deterministic": True},
        "auth": {"dynamic": {"openapi": {"token_auth": {
            "path": "/api/v1/auth/login",
            "payload": {"email": email, "password": PASSWORD},
            "extract_selector": "/access_token",
            "retry_on": [401],
        }}}},
        "phases": {"stateful": {"max-steps": stateful_steps}},
        # Rules of the service that JSON Schema cannot state, each documented in the spec:
        # a user's own PATCH may not set role/active and needs current_password (422); an
        # uploaded file must parse as what it is (422 damaged, 413 too many pages); a new
        # password must not be easily guessed (422); admin scopes on an API key need an
        # admin (422), and a user holds a bounded number of keys (409); a project's name
        # must show something, which a pattern cannot say of Unicode's invisible and
        # unassigned characters (422); a webhook's URL must resolve to an address the
        # deployment lets it reach (422: docs/webhooks.md), which no format can say; an
        # added risk's offsets must cover a sentence of the scan's text that is no finding
        # yet (422: docs/api.md#missed-risks). A scan dated again may not be dated after
        # tomorrow, which a schema's "date" cannot say, and a correction's dismissal scope
        # goes with "not a risk" only, which a schema cannot tie to another field (422).
        "operations": [
            {"include-name": ["PATCH /api/v1/users/{user_id}", "POST /api/v1/auth/register",
                              "POST /api/auth/register", "POST /api/v1/auth/api-keys",
                              "POST /api/v1/projects", "PATCH /api/v1/projects/{project_id}",
                              "POST /api/v1/projects/{project_id}/webhooks",
                              "PATCH /api/v1/projects/{project_id}/webhooks/{webhook_id}",
                              "POST /api/v1/scans/{scan_id}/findings",
                              "PATCH /api/v1/scans/{scan_id}",
                              "PATCH /api/v1/scans/{scan_id}/findings/{finding_id}"],
             "checks": {"positive_data_acceptance": {
                 "expected-statuses": ["2xx", "401", "403", "404", "409", "422"]}}},
            # Changing one's password needs the current one, which a schema cannot know (422),
            # and wrong guesses spend the login's budget (429: docs/security.md).
            {"include-name": ["POST /api/v1/auth/password"],
             "checks": {"positive_data_acceptance": {
                 "expected-statuses": ["2xx", "401", "403", "409", "422", "429"]}}},
            # A multipart form carries only strings and allows extra fields, so schemathesis'
            # "invalid" upload requests are often valid once serialized (it marks them
            # "Invalid component: positive test case"). What a job and an upload must
            # refuse is tested in tests/test_jobs.py and tests/test_scans.py
            # (docs/reliability.md). A report's date (reported_on) may not be after
            # tomorrow, which a schema's "date" cannot say (422).
            {"include-name": ["POST /api/scan", "POST /api/v1/scans"],
             "checks": {"negative_data_rejection": {"enabled": False},
                        "positive_data_acceptance": {"expected-statuses": [
                            "2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]}}},
            # The register by hand: a merge names risks of the project, of its category, not
            # merged already; a split names findings of the risk, not all of them; a risk
            # typed must show something (422, 409: docs/register.md). A merged risk's id
            # answers 301 to the risk that holds it, and a change to it a 409.
            {"include-name": ["POST /api/v1/projects/{project_id}/risks",
                              "POST /api/v1/projects/{project_id}/risks/{risk_id}/merge",
                              ("POST /api/v1/projects/{project_id}/risks/{risk_id}/suggestions"
                              "/{other_id}/merge"),
                              ("POST /api/v1/projects/{project_id}/risks/{risk_id}/suggestions"
                              "/{other_id}/dismiss"),
                              "GET /api/v1/projects/{project_id}/risks/{risk_id}/suggestions",
                              "POST /api/v1/projects/{project_id}/risks/{risk_id}/split",
                              "GET /api/v1/projects/{project_id}/risks/{risk_id}",
                              "PATCH /api/v1/projects/{project_id}/risks/{risk_id}"],
             "checks": {"positive_data_acceptance": {
                 "expected-statuses": ["2xx", "301", "401", "403", "404", "409", "422"]}}},
            # A link's token (a reset's, an invitation's) is a secret no schema can guess: a
            # valid-looking one is no link (404, 422), and a reset asked without mail is a
            # 404 (docs/security.md#forgotten-passwords-a-link-by-email).
            {"include-name": ["POST /api/v1/auth/password/forgot",
                              "POST /api/v1/auth/password/reset",
                              "POST /api/v1/invitations/lookup",
                              "POST /api/v1/notices/off"],
             "checks": {"positive_data_acceptance": {
                 "expected-statuses": ["2xx", "404", "422", "429"]}}},
            # A member's email that names no active user is a 404 on the email (errors.email),
            # not on the project just created: the stateful phase reads it as the project gone.
            {"include-name": ["POST /api/v1/projects/{project_id}/members"],
             "checks": {"ensure_resource_availability": {"enabled": False}}},
            # Moving a scan into a project that is not there, or not the caller's to edit, is
            # that project's 404 (as POST /scans answers it), not the scan's: followed from
            # the scan just created (its links name scan_id alone), it reads as the scan gone.
            # A scan of pasted text has no file: its /file is a 404 by design (the spec links
            # a created scan to its other operations, not to it).
            {"include-name": ["PATCH /api/v1/scans/{scan_id}",
                              "GET /api/v1/scans/{scan_id}/file"],
             "checks": {"ensure_resource_availability": {"enabled": False}}},
            # DELETE on a job cancels it and keeps its record (what ran, what failed and why:
            # docs/jobs.md), so a GET after it is a 200 by design.
            {"include-name": ["DELETE /api/v1/jobs/{job_id}", "GET /api/v1/jobs/{job_id}"],
             "checks": {"use_after_free": {"enabled": False}}},
            # The same for a job's form; and its archive must be a .zip that unpacks within
            # the limits and its documents readable (422, 413), which a schema's "binary"
            # cannot say: schemathesis' coverage phase sends bytes of its own for it.
            {"include-name": ["POST /api/v1/jobs"],
             "checks": {"negative_data_rejection": {"enabled": False},
                        "positive_data_acceptance": {"expected-statuses": [
                            "2xx", "401", "403", "404", "409", "413", "422", "429", "503"]}}},
        ],
    })


@dataclass
class ContractReport:
    cases: int = 0
    cases_by_phase: collections.Counter = field(default_factory=collections.Counter)
    statuses: collections.Counter = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    inferred_transitions: int = 0
    stop_reason: str = ""
    seconds: float = 0.0

    def status_seen(self, operation: str, status: int) -> bool:
        return self.statuses[(operation, status)] > 0

    def summary(self) -> str:
        phases = ", ".join(f"{k.lower()}: {v}" for k, v in sorted(self.cases_by_phase.items()))
        lines = [(f"{self.cases} cases in {self.seconds:.1f} s ({phases}); "
                  f"{self.inferred_transitions} stateful links inferred; "
                  f"{len(self.failures)} failures, {len(self.errors)} errors; "
                  f"stopped: {self.stop_reason}")]
        lines += [f"FAILURE {f}" for f in self.failures[:20]]
        lines += [f"ERROR {e}" for e in self.errors[:10]]
        return "\n".join(lines)


def run_contract(base_url: str, email: str, *, max_examples: int = 5, stateful_steps: int = 10,
                 seed: int = 20260101, verbose: bool = False,
                 operations: list[str] | None = None) -> ContractReport:
    """Run every phase and check against ``base_url``; ``email`` is a registered user's.
    ``operations`` ("POST /api/v1/jobs"…), when given, are the only ones run."""
    import traceback

    import schemathesis
    from schemathesis.core.errors import NoLinksFound
    from schemathesis.engine import Status, events, from_schema

    register_document_strategies()
    config = config_for(email, max_examples=max_examples, stateful_steps=stateful_steps,
                        seed=seed)
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json", config=config)
    if operations:  # an include would be one more alternative to the config's operations
        schema = schema.exclude(func=lambda context: context.operation.label not in operations)
    report = ContractReport()
    started = time.monotonic()
    seen_failures: set[tuple] = set()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            report.cases += len(recorder.cases)
            report.cases_by_phase[event.phase.name] += len(recorder.cases)
            for case_id, interaction in recorder.interactions.items():
                if interaction.response is not None and case_id in recorder.cases:
                    label = recorder.cases[case_id].value.operation.label
                    report.statuses[(label, interaction.response.status_code)] += 1
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.status != Status.FAILURE or check.failure_info is None:
                        continue
                    failure = check.failure_info.failure
                    key = (check.name, failure.operation, failure.title)
                    if key in seen_failures:
                        continue
                    seen_failures.add(key)
                    report.failures.append(
                        f"[{check.name}] {failure.operation}: {failure.title}: "
                        f"{failure.message.strip()[:600]}\n    {check.failure_info.code_sample}")
        elif isinstance(event, events.PhaseStarted) and event.payload is not None:
            report.inferred_transitions = event.payload.inferred_transitions
        elif isinstance(event, events.NonFatalError) and not (
                operations and isinstance(event.value, NoLinksFound)):  # a selection may hold none
            report.errors.append(f"{event.label}: "
                                 + "".join(traceback.format_exception(event.value))[-800:])
        elif isinstance(event, events.FatalError):
            report.errors.append("fatal: "
                                 + "".join(traceback.format_exception(event.exception))[-800:])
        elif isinstance(event, events.EngineFinished):
            report.stop_reason = str(event.stop_reason)
        if verbose and isinstance(event, events.PhaseFinished):
            print(f"  phase {event.phase.name.name}: {event.status}", file=sys.stderr)
    report.seconds = time.monotonic() - started
    exercised = {operation for operation, _ in report.statuses}
    for operation in MUST_EXERCISE:
        if (not operations or operation in operations) and operation not in exercised:
            report.failures.append(f"[exercised] {operation}: no case was sent")
    return report


def _cli() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=50,
                        help="examples per operation and phase (default 50)")
    parser.add_argument("--stateful-steps", type=int, default=30)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--database-url", default="",
                        help="SQLAlchemy URL (default: a fresh SQLite file)")
    parser.add_argument("--model-dir", default="",
                        help="the model (default: MODEL_DIR, or models_cache)")
    parser.add_argument("--operation", action="append", dest="operations", metavar="NAME",
                        help='only this operation, as "POST /api/v1/jobs" (repeatable)')
    args = parser.parse_args()
    report = run_against_fresh_app(args.database_url, args.model_dir,
                                   max_examples=args.max_examples,
                                   stateful_steps=args.stateful_steps, seed=args.seed,
                                   verbose=True, operations=args.operations)
    print(report.summary())
    return 0 if not report.failures and not report.errors else 1


def run_against_fresh_app(database_url: str, model_dir: str, **kwargs) -> ContractReport:
    """A fresh app (migrated database, real model, fake LLM on loopback) under the contract run."""
    import os
    import tempfile
    import uuid

    from flask_migrate import upgrade

    from reliability.servers import serve_in_thread, warmed
    from service import create_app
    from service.config import Settings
    from testkit.llm_server import FakeLLMServer

    with tempfile.TemporaryDirectory(prefix="riskscan-contract-") as tmp, \
            FakeLLMServer(risks=LLM_RISKS) as llm:
        settings = Settings.from_env(
            {}, RISKSCAN_ENV="testing", SECRET_KEY="contract-" + uuid.uuid4().hex,
            DATABASE_URL=database_url or f"sqlite:///{tmp}/contract.db",
            MODEL_DIR=model_dir or os.environ.get("MODEL_DIR", "models_cache"),
            UPLOAD_DIR=f"{tmp}/uploads", LOG_LEVEL="ERROR", LOG_FORMAT="text",
            RATE_LIMIT_ENABLED=False, LLM_BASE_URL=llm.base_url, LLM_MODEL="fake-llm")
        app = warmed(create_app(settings))
        with app.app_context():
            upgrade()
        email = f"contract-{uuid.uuid4().hex[:8]}@example.com"
        response = app.test_client().post("/api/v1/auth/register",
                                          json={"email": email, "password": PASSWORD})
        assert response.status_code == 201, response.get_data(as_text=True)
        try:
            with serve_in_thread(app) as base_url:
                return run_contract(base_url, email, **kwargs)
        finally:  # the jobs' threads write under UPLOAD_DIR: let them end before it goes
            engine = app.extensions.get("riskscan.jobs")
            if hasattr(engine, "shutdown"):
                engine.shutdown()


if __name__ == "__main__":
    sys.exit(_cli())
