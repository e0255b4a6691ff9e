"""Password guessing and account enumeration have a budget, whatever door is used.

A password guess is a failed login (JSON or the OAuth2 form) or a wrong
``current_password`` on ``PATCH /users/{id}``: both draw on the same per-account and
per-address budgets. Registration is limited per address and per email, since its 409
tells whether an email has an account; adding a project member by an email without an
account draws on the same per-address budget.
"""

from __future__ import annotations

from tests.helpers import PASSWORD, Accounts, assert_problem


def _register(client, email):
    return client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})


def test_a_decoy_email_field_in_the_login_form_does_not_dodge_the_account_limit(make_app):
    """The form login checks ``username``; a form ``email`` field must not pick the key."""
    client = make_app(RATE_LIMIT_LOGIN_ACCOUNT="3 per minute").test_client()
    email = "victim@example.com"
    assert _register(client, email).status_code == 201
    for n in range(3):
        guess = client.post("/api/v1/auth/login", data={
            "username": email, "password": f"guess-{n}", "email": f"decoy{n}@example.com"})
        assert guess.status_code == 401
    blocked = client.post("/api/v1/auth/login", data={
        "username": f"  {email.upper()} ", "password": PASSWORD, "email": "decoy9@example.com"})
    assert_problem(blocked, 429)
    assert int(blocked.headers["Retry-After"]) > 0
    # JSON names the same account: the same counter.
    assert client.post("/api/v1/auth/login",
                       json={"email": email, "password": PASSWORD}).status_code == 429


def test_a_json_login_with_a_decoy_username_counts_for_the_email_it_checks(make_app):
    client = make_app(RATE_LIMIT_LOGIN_ACCOUNT="2 per minute").test_client()
    email = "victim@example.com"
    _register(client, email)
    for n in range(2):
        # An unknown field is refused (422) before any password is checked...
        refused = client.post("/api/v1/auth/login", json={
            "email": email, "password": "wrong password", "username": f"d{n}@example.com"})
        assert refused.status_code == 422
    # ... so it neither counts nor unlocks anything: the real guesses still do.
    for _ in range(2):
        assert client.post("/api/v1/auth/login", json={
            "email": email, "password": "wrong password"}).status_code == 401
    assert client.post("/api/v1/auth/login",
                       json={"email": email, "password": PASSWORD}).status_code == 429


def test_registrations_per_address_are_limited_with_retry_after(make_app):
    client = make_app(RATE_LIMIT_REGISTER_ADDRESS="3 per hour").test_client()
    statuses = [_register(client, f"new{n}@example.com").status_code for n in range(4)]
    assert statuses == [201, 201, 201, 429]
    body = assert_problem(_register(client, "new9@example.com"), 429)
    assert "3 per 1 hour" in body["detail"]


def test_registration_attempts_per_email_are_limited_whatever_the_case(make_app):
    """Probing one email for an account (201 or 409) is limited per email."""
    client = make_app(RATE_LIMIT_REGISTER_EMAIL="2 per hour").test_client()
    assert _register(client, "taken@example.com").status_code == 201
    assert _register(client, "Taken@Example.com").status_code == 409
    blocked = _register(client, " TAKEN@example.com")
    assert_problem(blocked, 429)
    assert int(blocked.headers["Retry-After"]) > 0
    assert _register(client, "other@example.com").status_code == 201


def test_members_added_by_emails_without_an_account_draw_on_registrations_budget(make_app):
    """Adding a member answers whether an email has an account, as registration's 409
    does: each miss spends the same per-address budget, so neither door widens the other."""
    from service.db import AuditEvent, ProjectMember
    from service.extensions import db

    app = make_app(RATE_LIMIT_REGISTER_ADDRESS="6 per hour")
    client = app.test_client()
    accounts = Accounts(app, client)
    _, headers = accounts.user()  # registrations: 1
    alice, bob = accounts.register(), accounts.register()  # 3
    project = client.post("/api/v1/projects", json={"name": "Probe"}, headers=headers)
    members = f"/api/v1/projects/{project.get_json()['id']}/members"

    def add(email):
        return client.post(members, json={"email": email, "role": "viewer"}, headers=headers)

    assert add(alice["email"]).status_code == 201  # a hit spends nothing
    for n in range(3):  # 6
        body = assert_problem(add(f"nobody-{n}@example.com"), 404, "email")
        assert body["detail"] == "There is no active user with this email."
        assert body["errors"] == {"email": ["No active user with this email."]}
    blocked = add(bob["email"])

    body = assert_problem(blocked, 429)
    assert "6 per 1 hour" in body["detail"]
    assert int(blocked.headers["Retry-After"]) > 0
    assert_problem(_register(client, "late@example.com"), 429)
    with app.app_context():
        assert db.session.get(ProjectMember, (project.get_json()["id"], bob["id"])) is None
        assert db.session.query(AuditEvent).filter_by(event="member_added",
                                                     target_id=bob["id"]).count() == 0


def _patch_own(client, user, headers, current_password):
    return client.patch(f"/api/v1/users/{user['id']}", headers=headers,
                        json={"email": f"x-{user['id'][:8]}@example.com",
                              "current_password": current_password})


def test_current_password_guesses_are_limited_per_account(make_app):
    app = make_app(RATE_LIMIT_LOGIN_ACCOUNT="3 per minute")
    client = app.test_client()
    user, headers = Accounts(app, client).user()
    for n in range(3):
        assert_problem(_patch_own(client, user, headers, f"guess-{n}"), 422, "current_password")
    blocked = _patch_own(client, user, headers, PASSWORD)
    assert_problem(blocked, 429)
    assert int(blocked.headers["Retry-After"]) > 0
    # The same budget as the login's: the guesses above also close the login door.
    assert client.post("/api/v1/auth/login", json={"email": user["email"],
                                                   "password": PASSWORD}).status_code == 429
    # Nothing changed.
    me = client.get("/api/v1/auth/me", headers=headers).get_json()
    assert me["email"] == user["email"]


def test_current_password_guesses_are_limited_per_address(make_app):
    app = make_app(RATE_LIMIT_LOGIN_ADDRESS="2 per minute")
    client = app.test_client()
    accounts = Accounts(app, client)
    first, first_headers = accounts.user()
    second, second_headers = accounts.user()
    assert _patch_own(client, first, first_headers, "guess-1").status_code == 422
    assert _patch_own(client, second, second_headers, "guess-2").status_code == 422
    assert_problem(_patch_own(client, second, second_headers, PASSWORD), 429)


def test_right_current_passwords_are_not_counted(make_app):
    app = make_app(RATE_LIMIT_LOGIN_ACCOUNT="2 per minute")
    client = app.test_client()
    user, headers = Accounts(app, client).user()
    for n in range(3):
        response = client.patch(f"/api/v1/users/{user['id']}", headers=headers,
                                json={"email": f"renamed{n}@example.com",
                                      "current_password": PASSWORD})
        assert response.status_code == 200, response.get_json()


def test_the_legacy_login_path_draws_on_the_same_budget(make_app):
    """/api/auth/login serves the same view: alternating paths must not double the guesses."""
    client = make_app(RATE_LIMIT_LOGIN_ACCOUNT="2 per minute").test_client()
    email = "victim@example.com"
    _register(client, email)
    assert client.post("/api/v1/auth/login", json={"email": email,
                                                   "password": "guess-1"}).status_code == 401
    assert client.post("/api/auth/login", json={"email": email,
                                                "password": "guess-2"}).status_code == 401
    assert client.post("/api/auth/login", json={"email": email,
                                                "password": PASSWORD}).status_code == 429
    assert client.post("/api/v1/auth/login", json={"email": email,
                                                   "password": PASSWORD}).status_code == 429
