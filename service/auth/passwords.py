"""Passwords: the policy a new one must meet (length after NFKC normalisation, zxcvbn's
strength with the email as a known word), and argon2id hashing at parameters chosen so that
logins do not starve inference of CPU. Figures and history: docs/security.md#passwords.
"""

from __future__ import annotations

import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 8
MAX_LENGTH = 128
POLICY_LENGTH = f"Use between {MIN_LENGTH} and {MAX_LENGTH} characters."
MIN_STRENGTH = 3  # zxcvbn's score, 0–4
_ZXCVBN_MAX_CHARS = 72  # zxcvbn refuses longer input; its estimate is settled by then

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

# Verified when the email is unknown, so that a wrong email costs the same time as a
# wrong password and timing does not reveal which accounts exist.
_DUMMY_HASH = _hasher.hash("riskscan-timing-equaliser")


def normalize_password(password: str) -> str:
    return unicodedata.normalize("NFKC", password)


def password_problem(password: str, *, email: str | None = None) -> str | None:
    """Why ``password`` may not be used, in words for the user; None when it may."""
    normalized = normalize_password(password)
    if not MIN_LENGTH <= len(normalized) <= MAX_LENGTH:
        return POLICY_LENGTH
    from zxcvbn import zxcvbn

    known = ["riskscan"]
    if email:
        local = email.partition("@")[0]
        known += [email, local, *local.replace("-", ".").replace("_", ".").split(".")]
    estimate = zxcvbn(normalized[:_ZXCVBN_MAX_CHARS], user_inputs=known)
    if estimate["score"] >= MIN_STRENGTH:
        return None
    feedback = estimate.get("feedback") or {}
    warning = (feedback.get("warning") or "").rstrip(".")
    hint = " ".join(feedback.get("suggestions") or []) or "Add another word or two."
    return " ".join(filter(None, ["This password is too easy to guess.",
                                  warning and f"{warning}.", hint]))


def hash_password(password: str) -> str:
    return _hasher.hash(normalize_password(password))


def verify_password(password_hash: str | None, password: str) -> bool:
    normalized = normalize_password(password)
    try:
        if _hasher.verify(password_hash or _DUMMY_HASH, normalized):
            return bool(password_hash)
    except (VerificationError, InvalidHashError):
        pass
    if normalized == password or not password_hash:
        return False
    try:  # a hash made before passwords were normalised
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False
