"""The admin Models page of the web console (service/console/model_views.py), driven as a
browser would: read the page, send one of its forms as it stands (CSRF token included),
follow the redirect, and check what the API says now. The models root is the registry
tests' (tests/test_model_registry.py): ``v1`` serves, ``v2`` is the same model at another
operating point, and broken folders beside them."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from service.db import ModelTraining
from tests.console_browser import CSRF, form, html, main_of, signed_in_client
from tests.corrections import Inert, correct_and_add
from tests.helpers import Accounts
from tests.registry import V2_MIN_SCORE, own_root

MODELS = "/api/v1/admin/models"


@pytest.fixture
def console(make_app, models_root):
    """An app serving v1 from the models root; an admin's API headers and signed-in
    browser. Trainings are queued on an inert engine."""
    app = make_app(MODEL_DIR=str(models_root), TRAINING_MIN_CORRECTIONS=2, MODEL_SYNC_S=0)
    app.extensions["riskscan.jobs"] = Inert()
    client = app.test_client()
    admin, headers = Accounts(app, client).user(role="admin")
    return app, client, headers, signed_in_client(app, admin["email"])


def listing(client, headers) -> dict:
    response = client.get(MODELS, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def row(page: str, version: str) -> str:
    start = page.index(f'<tr id="model-{version}">')
    return page[start:page.index("</tr>", start)]


def test_the_page_lists_every_version_and_marks_the_active_one(console):
    _, client, headers, browser = console
    response = browser.get("/app/admin/models")
    assert response.status_code == 200
    page = html(response)
    assert "<h1>Models</h1>" in page
    assert "<caption>Model versions, newest first</caption>" in page
    listed = listing(client, headers)["items"]
    assert re.findall(r'<tr id="model-([^"]+)">', page) == [m["version"] for m in listed]
    assert '<p class="meta">Serving now: <strong>v1</strong></p>' in page
    assert "<td>Active: serving</td>" in row(page, "v1")
    assert "<td>Available</td>" in row(page, "v2")
    assert 'href="/app/admin/models/v2/activate"' in row(page, "v2")
    assert "activate" not in row(page, "v1")  # the active one has no Activate link
    assert "Broken: no config.json" in row(page, "empty")
    assert "activate" not in row(page, "empty")
    assert f"<td>{V2_MIN_SCORE:.2f}</td>" in row(page, "v2")
    v1 = next(m for m in listed if m["version"] == "v1")
    assert f"{v1['figures']['sentence_macro_f1']['validation']:.3f}" in row(page, "v1")
    nav = re.search(r'<nav class="admin-nav" aria-label="Administration">(.*?)</nav>', page,
                    re.DOTALL).group(1)
    assert 'href="/app/admin/models" aria-current="page">Models</a>' in nav
    # A version's own page: its card and figures.
    card = html(browser.get("/app/admin/models/v1"))
    assert "<h1>Model v1</h1>" in card and "Riskscan risk classifier" in card


def test_the_model_card_is_rendered_and_what_could_run_in_a_browser_is_not(
        make_app, models_root, tmp_path):
    """The card is Markdown (ml.train writes it, from data a person may have supplied): an
    admin reads it as a page, headings under the page's own, its tables as tables; raw
    HTML and script links stay text, and nothing asks for an inline style."""
    root = own_root(tmp_path / "models", models_root, ["v1", "v2"])
    app = make_app(MODEL_DIR=str(root), MODEL_SYNC_S=0)
    admin, _ = Accounts(app, app.test_client()).user(role="admin")
    browser = signed_in_client(app, admin["email"])
    (root / "v2" / "README.md").write_text(
        "# Card of v2\n\n## Figures\n\n| set | F1 |\n|---|---:|\n| the 42 | 0.57 |\n\n"
        "<script>alert('card')</script>\n\n<img src=x onerror=alert(1)>\n\n"
        "[click](javascript:alert(1)) and [docs](https://example.com/model)\n",
        encoding="utf-8")
    page = html(browser.get("/app/admin/models/v2"))
    card = re.search(r'<div class="model-card">(.*?)</div>', page, re.DOTALL)[1]
    assert "<h3>Card of v2</h3>" in card and "<h4>Figures</h4>" in card
    assert re.search(r"<table>.*<th>set</th>.*<td>the 42</td>.*</table>", card, re.DOTALL)
    # A right-aligned column says so by class: the CSP refuses a style attribute
    assert '<td class="align-right">0.57</td>' in card and "style=" not in card
    assert "<script>" not in card and "&lt;script&gt;alert" in card
    assert "<img" not in card and "&lt;img src=x onerror" in card
    assert 'href="javascript' not in card and "[click](javascript:alert(1))" in card
    assert '<a href="https://example.com/model">docs</a>' in card


def test_activation_asks_naming_both_versions_and_rollback_returns(console):
    _, client, headers, browser = console
    ask = browser.get("/app/admin/models/v2/activate")
    assert ask.status_code == 200
    page = html(ask)
    assert "<p>Serving now: <strong>v1</strong>. After this, <strong>v2</strong> serves " \
           "every scan.</p>" in page
    assert listing(client, headers)["active"] == "v1"  # asking changes nothing
    action = "/app/admin/models/v2/activate"
    sent = browser.post(action, data=form(page, action, "Activate v2").data())
    assert (sent.status_code, sent.headers["Location"]) == (302, "/app/admin/models")
    after = html(browser.get(sent.headers["Location"]))
    assert re.search(r"Model v2 serves now \(it replaced v1; loading and checking it took "
                     r"[\d.]+ s\)\.", after)
    assert (listing(client, headers)["active"], listing(client, headers)["previous_versions"]
            ) == ("v2", ["v1"])
    assert "<td>Active: serving</td>" in row(after, "v2")
    assert client.get("/ready", headers=headers).get_json()["checks"]["deployment"]["serving"] == "v2"

    assert 'href="/app/admin/models/rollback"' in after
    ask = html(browser.get("/app/admin/models/rollback"))
    assert "<p>Serving now: <strong>v2</strong>. After this, <strong>v1</strong> serves " \
           "every scan.</p>" in ask
    action = "/app/admin/models/rollback"
    sent = browser.post(action, data=form(ask, action, "Roll back to v1").data())
    assert sent.status_code == 302
    assert "Rolled back: model v1 serves now (it replaced v2)." in html(
        browser.get(sent.headers["Location"]))
    assert (listing(client, headers)["active"], listing(client, headers)["previous_versions"]
            ) == ("v1", [])
    # Nothing earlier now: the page says so and offers no form.
    none = html(browser.get("/app/admin/models/rollback"))
    assert "There is no earlier version to roll back to." in none
    assert 'action="/app/admin/models/rollback"' not in none


def test_a_confirmation_overtaken_by_another_change_changes_nothing(make_app, models_root,
                                                                     tmp_path):
    root = own_root(tmp_path / "models", models_root, ["v1", "v2", "v3"])
    app = make_app(MODEL_DIR=str(root), MODEL_SYNC_S=0)
    client = app.test_client()
    admin, headers = Accounts(app, client).user(role="admin")
    browser = signed_in_client(app, admin["email"])
    action = "/app/admin/models/v3/activate"
    page = html(browser.get(action))
    assert "Serving now: <strong>v1</strong>" in page
    # Another admin activates v2 meanwhile: the page asked about v1, so nothing happens.
    assert client.post(f"{MODELS}/v2/activate", headers=headers).status_code == 200
    sent = browser.post(action, data=form(page, action, "Activate v3").data())
    assert sent.status_code == 302
    assert ("Model v2 serves now, not v1 as the confirmation said: nothing was activated."
            in html(browser.get(sent.headers["Location"])))
    assert listing(client, headers)["active"] == "v2"


def test_a_rollback_confirmation_whose_target_changed_meanwhile_changes_nothing(
        make_app, models_root, tmp_path):
    root = own_root(tmp_path / "models", models_root, ["v1", "v2", "v3"])
    app = make_app(MODEL_DIR=str(root), MODEL_SYNC_S=0)
    client = app.test_client()
    admin, headers = Accounts(app, client).user(role="admin")
    for version in ("v2", "v3"):
        assert client.post(f"{MODELS}/{version}/activate", headers=headers).status_code == 200
    browser = signed_in_client(app, admin["email"])
    action = "/app/admin/models/rollback"
    page = html(browser.get(action))
    assert "Serving now: <strong>v3</strong>. After this, <strong>v2</strong>" in page
    # Meanwhile: two rollbacks and v3 again. v3 serves as the page said, but a rollback
    # would now serve v1, which the page never named.
    for path in ("rollback", "rollback", "v3/activate"):
        assert client.post(f"{MODELS}/{path}", headers=headers).status_code == 200
    assert listing(client, headers)["previous_versions"] == ["v1"]
    sent = browser.post(action, data=form(page, action, "Roll back to v2").data())
    assert sent.status_code == 302
    assert ("A rollback would serve v1 now, not v2 as the confirmation said: nothing was "
            "rolled back." in html(browser.get(sent.headers["Location"])))
    assert listing(client, headers)["active"] == "v3"


def test_a_shadow_trial_started_from_the_page_shows_and_ends(console):
    _, client, headers, browser = console
    page = html(browser.get("/app/admin/models/v2"))
    assert "No shadow trial yet." in page
    action = "/app/admin/models/v2/shadow"
    start = form(page, action, "Start")
    sent = browser.post(action, data=start.data(sample_rate="1", limit="50"))
    assert (sent.status_code, sent.headers["Location"]) == (302, "/app/admin/models/v2")
    page = html(browser.get(sent.headers["Location"]))
    assert "Shadow trial of v2 started: it reads 100% of the scans, up to 50." in page
    assert "<h2 id=\"shadow\">Shadow trial: running</h2>" in page
    report = client.get(f"{MODELS}/v2/shadow", headers=headers).get_json()
    assert (report["running"], report["sample_rate"], report["limit"]) == (True, 1.0, 50)
    models = html(browser.get("/app/admin/models"))
    assert "<td>Shadow trial</td>" in row(models, "v2")
    assert 'href="/app/admin/models/v2#shadow"' in models

    assert 'action="/app/admin/models/v2/shadow"' not in page  # no second start offered
    # One sent anyway (a page left open) is the API's 409, said on the page.
    sent = browser.post(action, data=start.data())
    assert "The shadow trial of v2 runs; end it before another starts." in html(
        browser.get(sent.headers["Location"]))

    action = "/app/admin/models/v2/shadow/end"
    sent = browser.post(action, data=form(page, action, "End the trial").data())
    assert sent.status_code == 302
    page = html(browser.get(sent.headers["Location"]))
    assert "Shadow trial of v2 ended; its report stays." in page
    assert "<h2 id=\"shadow\">Shadow trial: ended (deleted)</h2>" in page
    report = client.get(f"{MODELS}/v2/shadow", headers=headers).get_json()
    assert (report["running"], report["ended_why"]) == (False, "deleted")


@pytest.mark.parametrize("fields", [{"sample_rate": "abc"}, {"sample_rate": "0"},
                                    {"sample_rate": "1.5"}, {"limit": "0"},
                                    {"limit": "2.5"}, {"limit": "<b>9</b>" * 100}])
def test_a_refused_trial_form_says_why_in_the_forms_words_and_starts_nothing(console,
                                                                              fields):
    _, client, headers, browser = console
    page = html(browser.get("/app/admin/models/v2"))
    action = "/app/admin/models/v2/shadow"
    sent = browser.post(action, data=form(page, action, "Start").data(**fields))
    assert (sent.status_code, sent.headers["Location"]) == (302, "/app/admin/models/v2")
    said = html(browser.get(sent.headers["Location"]))
    label = "Share of the scans" if "sample_rate" in fields else "Up to (scans)"
    assert re.search(rf'<div class="flash" role="status">\s*<p>[^<]*{re.escape(label)}: ',
                     said), said
    assert "<b>9</b>" not in said and "No shadow trial yet." in said
    assert client.get(f"{MODELS}/v2/shadow", headers=headers).status_code == 404


def test_a_training_is_started_from_the_page_and_its_figures_shown(console):
    app, client, headers, browser = console
    action = "/app/admin/models/trainings"
    page = html(browser.get("/app/admin/models"))
    sent = browser.post(action, data=form(page, action, "Train").data())
    assert sent.status_code == 302
    assert ("A training needs 2 corrected or added sentences accepted by a reviewer; the "
            "deployment has 0." in html(browser.get(sent.headers["Location"])))
    assert app.extensions["riskscan.jobs"].trained == []

    correct_and_add(client, headers)
    page = html(browser.get("/app/admin/models"))
    sent = browser.post(action, data=form(page, action, "Train").data(base="v1"))
    page = html(browser.get(sent.headers["Location"]))
    assert "Training queued: v1 from 2 corrected sentences." in page
    [queued] = app.extensions["riskscan.jobs"].trained
    assert f'<tr id="training-{queued}">' in page and "<td>queued</td>" in page

    listed = {m["version"]: m["figures"] for m in listing(client, headers)["items"]}
    from service.extensions import db

    with app.app_context():
        training = db.session.scalars(select(ModelTraining)).one()
        training.status, training.version, training.unfinished = "done", "v2", None
        training.figures = {"candidate": listed["v2"], "base": listed["v1"]}
        training.shadow = "started"
        db.session.commit()
    page = html(browser.get("/app/admin/models"))
    done = page[page.index(f'<tr id="training-{queued}">'):]
    done = done[:done.index("</tr>")]
    assert "<td>done</td>" in done and 'href="/app/admin/models/v2"' in done
    f1 = listed["v2"]["sentence_macro_f1"]["validation"]
    base_f1 = listed["v1"]["sentence_macro_f1"]["validation"]
    assert f"{f1:.3f} (base {base_f1:.3f})" in done


def test_a_serving_pair_is_the_default_base_and_its_candidate_links_both_halves(
        make_app, reader_root):
    # With v1+r1 serving, a training from the page trains the pair (its reader too), and a
    # pair's candidate is two versions, each with its own page.
    app = make_app(MODEL_DIR=str(reader_root), READER_QUANTIZE="none",
                   TRAINING_MIN_CORRECTIONS=2, MODEL_SYNC_S=0)
    app.extensions["riskscan.jobs"] = Inert()
    client = app.test_client()
    admin, headers = Accounts(app, client).user(role="admin")
    browser = signed_in_client(app, admin["email"])
    served = client.post(f"{MODELS}/v1/activate", headers=headers, json={"reader": "r1"})
    assert served.status_code == 200, served.get_json()
    correct_and_add(client, headers)

    page = html(browser.get("/app/admin/models"))
    options = re.findall(r'<option value="([^"]+)"( selected)?', page[page.index('id="t-base"'):])
    assert options[0] == ("v1+r1", " selected") and ("v1", "") in options
    action = "/app/admin/models/trainings"
    sent = browser.post(action, data=form(page, action, "Train").data())
    assert sent.status_code == 302
    from service.extensions import db

    with app.app_context():
        training = db.session.scalars(select(ModelTraining)).one()
        assert training.base_version == "v1+r1"
        training.status, training.version, training.unfinished = "done", "v2+r2", None
        training_id = training.id
        db.session.commit()
    page = html(browser.get("/app/admin/models"))
    done = page[page.index(f'<tr id="training-{training_id}">'):]
    done = done[:done.index("</tr>")]
    assert "<td>v1+r1</td>" in done
    assert 'href="/app/admin/models/v2"' in done and 'href="/app/admin/models/r2"' in done


def test_a_user_is_refused_and_a_signed_out_browser_sent_to_sign_in(console):
    app, client, headers, _ = console
    user, _ = Accounts(app, client).user()
    browser = signed_in_client(app, user["email"])
    assert 'href="/app/admin/models"' not in html(browser.get("/app/scan"))
    for path in ("/app/admin/models", "/app/admin/models/v2",
                 "/app/admin/models/v2/activate", "/app/admin/models/rollback"):
        response = browser.get(path)
        assert response.status_code == 403, path
        assert "<h1>Not allowed</h1>" in html(response) and "v2" not in main_of(response)
    token = CSRF.search(html(browser.get("/app/scan"))).group(1)
    for path, data in (("/app/admin/models/v2/activate", {"serving": "v1"}),
                       ("/app/admin/models/rollback", {}),
                       ("/app/admin/models/v2/shadow", {"sample_rate": "1"}),
                       ("/app/admin/models/trainings", {})):
        response = browser.post(path, data={"csrf_token": token, **data})
        assert response.status_code == 403, path
    assert listing(client, headers)["active"] == "v1"
    assert client.get(f"{MODELS}/v2/shadow", headers=headers).status_code == 404

    signed_out = app.test_client()
    for path in ("/app/admin/models", "/app/admin/models/v2",
                 "/app/admin/models/v2/activate"):
        assert signed_out.get(path).headers["Location"].startswith("/app/sign-in"), path


def test_forms_without_their_csrf_token_are_refused_and_change_nothing(console):
    app, client, headers, browser = console
    correct_and_add(client, headers)
    for path, data in (("/app/admin/models/v2/activate", {"serving": "v1"}),
                       ("/app/admin/models/rollback", {}),
                       ("/app/admin/models/v2/shadow", {"sample_rate": "1"}),
                       ("/app/admin/models/v2/shadow/end", {}),
                       ("/app/admin/models/trainings", {})):
        response = browser.post(path, data=data)
        assert response.status_code == 400, path
        assert "not sent from a page of this console" in html(response)
    assert listing(client, headers)["active"] == "v1"
    assert client.get(f"{MODELS}/v2/shadow", headers=headers).status_code == 404
    assert app.extensions["riskscan.jobs"].trained == []


@pytest.mark.parametrize("version", ["nope", "..", "v1%2F..", "a" * 300, "%2e%2e", "v1+v2"])
def test_hostile_or_missing_versions_are_404(console, version):
    _, client, headers, browser = console
    token = CSRF.search(html(browser.get("/app/admin/models"))).group(1)
    for path in (f"/app/admin/models/{version}", f"/app/admin/models/{version}/activate"):
        response = browser.get(path)
        assert response.status_code == 404, path
        assert "<h1>Not found</h1>" in html(response)
    sent = browser.post(f"/app/admin/models/{version}/activate",
                        data={"csrf_token": token, "serving": "v1"})
    assert sent.status_code == 404
    assert listing(client, headers)["active"] == "v1"
