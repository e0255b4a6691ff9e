"""One-time passwords: what an admin hands a person for a new account or a forgotten
password, and the rule that comes with them.

An admin knows the password they handed over, so it is good for one thing only: the
account signs in and chooses its own (POST /auth/password). Until then every other route
answers 403 with MUST_CHANGE (``refuse_until_changed``, which ``authorized`` runs after
authentication); /auth/me and logout still answer, so that a client can say why and leave.
"""

from __future__ import annotations

import secrets

from flask import request

from service.errors import APIError

# Easy to read out and type from a note: no 0/o, 1/l/i. 16 characters of 31: about 79 bits.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
GROUPS, GROUP_LENGTH = 4, 4
# What a one-time password may still do: change itself, say who it is, sign out.
ALLOWED_ENDPOINTS = frozenset({"password.change", "auth.me", "auth.logout",
                               "legacy_auth.me", "legacy_auth.logout"})
MUST_CHANGE = ("This account's password was set by an admin: choose your own first "
               "(POST /api/v1/auth/password with it as current_password).")


def one_time_password() -> str:
    """A random password in groups, e.g. ``k7pm-2qzx-h9tc-w4ne``."""
    return "-".join("".join(secrets.choice(ALPHABET) for _ in range(GROUP_LENGTH))
                    for _ in range(GROUPS))


def refuse_until_changed(caller) -> None:
    """403 for a caller whose password an admin set, on all but ALLOWED_ENDPOINTS."""
    if caller is not None and caller.must_change_password \
            and request.endpoint not in ALLOWED_ENDPOINTS:
        raise APIError(403, MUST_CHANGE)
