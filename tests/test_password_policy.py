"""New passwords: common and easily guessed ones are refused with a clear 422, and lengths
are counted after Unicode normalisation, on every door a password comes through."""

from __future__ import annotations

import pytest

from tests.helpers import PASSWORD, Accounts, assert_problem

REGISTER = "/api/v1/auth/register"


@pytest.mark.parametrize("password", ["password123", "qwertyuiop", "12345678abc",
                                      "iloveyou1", "aaaaaaaaaaaa", "Riskscan2026"])
def test_common_and_easily_guessed_passwords_are_refused_in_words(client, password):
    body = assert_problem(client.post(REGISTER, json={"email": "new@example.com",
                                                      "password": password}), 422, "password")
    message = body["errors"]["password"][0]
    assert message.startswith("This password is too easy to guess.")
    assert password not in message  # the answer never echoes the password


def test_a_password_made_of_the_email_is_refused(client):
    body = assert_problem(client.post(REGISTER, json={"email": "alice.lindqvist@example.com",
                                                      "password": "Alice.Lindqvist2026"}),
                          422, "password")
    assert "too easy to guess" in body["errors"]["password"][0]


def test_lengths_are_counted_after_unicode_normalisation(client):
    # "ﬀ" (one character) normalises to "ff" (two): 65 of them are 130 characters.
    body = assert_problem(client.post(REGISTER, json={"email": "lig@example.com",
                                                      "password": "ﬀ" * 65}), 422, "password")
    assert body["errors"]["password"] == ["Use between 8 and 128 characters."]
    # Full-width letters are one character each, before and after.
    body = assert_problem(client.post(REGISTER, json={"email": "wide@example.com",
                                                      "password": "ｂａｔｔｅｒｙ"}), 422)
    assert body["errors"]["password"] == ["Use between 8 and 128 characters."]


def test_every_unicode_spelling_of_a_password_verifies(client, accounts):
    wide = "ｃｏｒｒｅｃｔ ｈｏｒｓｅ ｂａｔｔｅｒｙ"
    user = accounts.register(password=wide)
    assert accounts.login(user["email"], PASSWORD)["token_type"] == "bearer"
    assert accounts.login(user["email"], wide)["token_type"] == "bearer"


def test_the_policy_holds_for_password_changes_and_admin_created_users(app, client):
    accounts = Accounts(app, client)
    user, headers = accounts.user()
    _, admin_headers = accounts.user(role="admin")
    own = client.patch(f"/api/v1/users/{user['id']}", headers=headers,
                       json={"password": "password123", "current_password": PASSWORD})
    assert_problem(own, 422, "password")
    created = client.post("/api/v1/users", headers=admin_headers,
                          json={"email": "weak@example.com", "password": "letmein1"})
    assert_problem(created, 422, "password")


def test_create_admin_refuses_a_weak_password(app):
    result = app.test_cli_runner().invoke(args=["create-admin", "--email", "root@example.com"],
                                          env={"RISKSCAN_ADMIN_PASSWORD": "password123"})
    assert result.exit_code != 0
    assert "too easy to guess" in result.output
