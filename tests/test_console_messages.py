"""Each refusal said once, in lengths that match the hints (issue #52 item 5): a form's
field says its own words beside it and the alert above does not say them again; a detail
that is one field's refusal in a sentence of its own is not followed by the field's
shorter words for the same thing; the registration's and the password change's lengths
are the policy's (8 to 128 characters), as their hints say, never the raw bound."""

from __future__ import annotations

import html as html_entities
import re

import pytest
from werkzeug.datastructures import Headers

from service.console.client import Answer
from service.console.pages import words
from tests.console_browser import csrf_of, html, sign_in
from tests.helpers import PASSWORD
from tests.projects import make_project

POLICY_LENGTH = "Use between 8 and 128 characters."
SEE_THE_FIELDS = "The request has invalid or missing fields."


def said(page: str) -> list[str]:
    """What the page says in words about a refusal: the alert, each field's words beside
    it, what is said beside a control, and the flashed messages."""
    found = re.findall(r'<p class="(?:form-error|field-error|said)"[^>]*>(.*?)</p>', page,
                       re.DOTALL)
    flashes = re.search(r'<div class="flash" role="status">(.*?)</div>', page, re.DOTALL)
    if flashes:
        found += re.findall(r"<p>(.*?)</p>", flashes.group(1), re.DOTALL)
    return [html_entities.unescape(" ".join(text.split())) for text in found]


def signed_in(app, user) -> object:
    client = app.test_client()
    assert sign_in(client, user["email"]).status_code == 302
    return client


def post(client, path, data, *, page=None, **kwargs):
    return client.post(path, data={**data, "csrf_token": csrf_of(client, page or path)},
                       **kwargs)


# ------------------------------------------------------------------------ registration


def test_the_empty_registration_form_says_each_thing_once_in_the_hints_words(app):
    client = app.test_client()
    refused = post(client, "/app/register", {"email": "", "password": ""})
    assert refused.status_code == 422
    page = html(refused)
    assert "8 to 128 characters" in page  # the hint
    assert said(page) == [SEE_THE_FIELDS, "Not a valid email address.", POLICY_LENGTH]
    assert "512" not in page and "Length must be" not in page


@pytest.mark.parametrize("password", ["a" * 600, "short", ""])
def test_a_refused_registration_password_is_the_policys_length_once(app, password):
    client = app.test_client()
    refused = post(client, "/app/register", {"email": "new@example.com",
                                             "password": password})
    assert refused.status_code == 422
    assert said(html(refused)) == [SEE_THE_FIELDS, POLICY_LENGTH]


def test_the_api_says_the_policys_length_for_an_empty_or_oversized_password(client):
    for password in ("", "a" * 600):
        body = client.post("/api/v1/auth/register", json={
            "email": "new@example.com", "password": password}).get_json()
        assert body["errors"] == {"password": [POLICY_LENGTH]}, body


# ---------------------------------------------------------- a detail in a sentence of its own


def test_a_deactivated_member_is_said_once(app, accounts):
    """No active account has the email, and it cannot be invited: it has an account."""
    from service.db import User
    from service.extensions import db
    from service.projects.routes import HAS_ACCOUNT

    owner = accounts.register()
    dormant = accounts.register()
    with app.app_context():
        db.session.get(User, dormant["id"]).active = False
        db.session.commit()
    client = signed_in(app, owner)
    project = make_project(app.test_client(), {"Authorization": "Bearer " + accounts.login(
        owner["email"])["access_token"]})
    members = f"/app/projects/{project['id']}/members"
    response = post(client, members, {"email": dormant["email"], "role": "editor"})
    assert response.status_code == 409
    assert said(html(response)) == [HAS_ACCOUNT]


def test_a_wrong_current_password_is_said_once_and_a_weak_new_one_why_once(app, accounts):
    user = accounts.register()
    client = signed_in(app, user)
    wrong = post(client, "/app/account/password", {
        "current_password": "not it at all", "new_password": "another good passphrase 7",
        "repeat_password": "another good passphrase 7"}, page="/app/account")
    assert wrong.status_code == 422
    assert said(html(wrong)) == ["The current password is missing or wrong."]
    weak = post(client, "/app/account/password", {
        "current_password": PASSWORD, "new_password": "password",
        "repeat_password": "password"}, page="/app/account")
    assert weak.status_code == 422
    [why] = said(html(weak))
    assert why.startswith("The new password cannot be used: This password is too easy")
    short = post(client, "/app/account/password", {
        "current_password": PASSWORD, "new_password": "", "repeat_password": ""},
        page="/app/account")
    assert said(html(short)) == [f"The new password cannot be used: {POLICY_LENGTH}"]


def test_a_text_and_a_file_together_are_said_once(app, accounts):
    import io

    client = signed_in(app, accounts.register())
    refused = client.post("/app/scan", data={
        "text": "The vendor may slip.", "csrf_token": csrf_of(client),
        "file": (io.BytesIO(b"The budget is short."), "notes.txt")},
        content_type="multipart/form-data")
    assert refused.status_code == 422
    assert said(html(refused)) == ["Send either text or a file, not both."]


def test_a_risks_owner_who_is_no_member_is_said_once(team, keyword_app):
    from tests.projects import register_of, scan_into

    scan_into(team.client, team.owner_h, team.id, "The vendor may slip.")
    [entry] = register_of(team.client, team.owner_h, team.id)
    client = signed_in(keyword_app, team.owner)
    path = f"/app/projects/{team.id}/risks/{entry['id']}"
    refused = post(client, path, {"owner_id": team.outsider["id"], "from": "details"})
    assert refused.status_code == 422
    assert said(html(refused)) == ["A risk's owner must be a member of the project."]


# ------------------------------------------------------------------ lengths and the hints


def test_an_empty_project_name_is_one_message(app, accounts):
    client = signed_in(app, accounts.register())
    refused = post(client, "/app/projects", {"name": "", "description": ""})
    assert refused.status_code == 422
    assert said(html(refused)) == [SEE_THE_FIELDS, "Must not be blank."]


def test_an_empty_hand_added_risk_is_one_message(team, keyword_app):
    client = signed_in(keyword_app, team.owner)
    register = f"/app/projects/{team.id}"
    response = post(client, f"{register}/risks/add", {"risk": "", "category": "vendor"},
                    page=register, follow_redirects=True)
    assert said(html(response)) == [
        f"The risk was not added. {SEE_THE_FIELDS} Risk: Must not be blank."]


def test_a_key_without_scopes_is_refused_in_the_legends_words(app, accounts):
    client = signed_in(app, accounts.register())
    refused = post(client, "/app/account/keys", {"name": "nightly"})
    assert refused.status_code == 422
    page = html(refused)
    assert "Scopes (at least one)" in page
    assert said(page) == [SEE_THE_FIELDS, "Choose at least one scope."]


# ---------------------------------------------------------------------------- words()


def answer(detail, errors) -> Answer:
    return Answer(422, Headers(), b"", {"detail": detail, "errors": errors}, errors=errors)


def test_words_say_a_field_only_where_the_detail_leaves_it_to_the_fields():
    # One field's refusal in a sentence of its own: the field's words for it are not added.
    assert words(answer("There is no active user with this email.",
                        {"email": ["No active user with this email."]})) == (
        "There is no active user with this email.")
    # The validation's detail says only "see the fields": they say what was refused.
    assert words(answer(SEE_THE_FIELDS, {"email": ["Not a valid email address."]})) == (
        f"{SEE_THE_FIELDS} Email: Not a valid email address.")
    # Several fields: each one's words, as before.
    assert words(answer("You cannot change your own active, role.",
                        {"role": ["Not allowed."], "active": ["Not allowed."]})) == (
        "You cannot change your own active, role. Role: Not allowed.")
    # A field shown beside its control on the form is not said again in the sentence.
    assert words(answer(SEE_THE_FIELDS, {"email": ["Not a valid email address."],
                                         "password": [POLICY_LENGTH]}),
                 beside=("password",)) == f"{SEE_THE_FIELDS} Email: Not a valid email address."
