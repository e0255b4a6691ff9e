"""The real parts the suite runs against (MariaDB, Redis, RabbitMQ, Chromium, slapd, hadolint,
torch): when one is missing here, its tests skip; in CI a skip would hide a gap, so there
``RISKSCAN_REQUIRE_REAL_PARTS=1`` (set by ``.ci/run``) turns every such skip into a failure.

``RISKSCAN_REQUIRE_MYSQL=1``, the older flag, still does the same for MariaDB alone."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_REAL_PARTS = "RISKSCAN_REQUIRE_REAL_PARTS"
REQUIRE_MYSQL = "RISKSCAN_REQUIRE_MYSQL"


def require_or_skip(reason: str, *, mysql: bool = False) -> NoReturn:
    """A real part is missing (``reason`` says which): fail where a flag requires it,
    else skip. ``mysql=True``: RISKSCAN_REQUIRE_MYSQL=1 requires it too."""
    flags = [REQUIRE_REAL_PARTS] + ([REQUIRE_MYSQL] if mysql else [])
    for flag in flags:
        if os.environ.get(flag) == "1":
            pytest.fail(f"{flag}=1 but {reason}")
    pytest.skip(reason, allow_module_level=True)  # a module's imports may need the part


# Modules whose tests check what the database engine cannot change: the console's pages
# (drawn from the API's answers), the error format, hostile HTTP input, the password policy
# and guessing budgets, who may call what, the OpenAPI document, the operating point, where
# a webhook may point, the LLM client, /metrics' access, forged OpenID tokens and callbacks.
# Their MariaDB copies (543 of 1,816) cost minutes of CI and proved nothing the SQLite copy
# does not; what storage decides (ids, locks, types, migrations, races, the register, scans,
# jobs, projects, accounts) keeps both. docs/reliability.md, "CI time".
ENGINE_AGNOSTIC = frozenset({
    "test_console.py", "test_console_audit.py", "test_console_dismissal_scope.py",
    "test_console_document.py", "test_console_history.py", "test_console_keys.py",
    "test_console_merge.py", "test_console_messages.py", "test_console_models.py",
    "test_console_register.py", "test_console_review_admin.py",
    "test_console_review_team.py", "test_console_sessions.py", "test_console_webhooks.py",
    "test_errors.py", "test_owasp_api.py", "test_http_policy.py", "test_password_policy.py",
    "test_authorization_matrix.py", "test_api_docs.py", "test_password_guessing.py",
    "test_min_score.py", "test_console_sso_pages.py", "test_console_users.py",
    "test_console_webhook_deliveries.py", "test_console_projects.py",
    "test_webhook_targets.py", "test_scans_llm.py", "test_metrics_access.py",
    "test_sso_oidc_hostile.py", "test_sso_oidc_api.py",
})
