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
