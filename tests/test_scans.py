"""Scans through the API, with the real model: analyse, list, read, download, delete,
correct; ownership; failures that must leave nothing behind; the seed-004 routes."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from service.analysis.base import AnalysisError
from service.db import Scan, ScanFinding
from service.extensions import db
from testkit.documents import RISKY_SENTENCES, make_docx
from tests.helpers import Accounts, assert_problem
from tests.projects import scan_into
from tests.scanning import (
    FEW,
    TEXT,
    KeywordAnalyzer,
    check_findings,
    count_rows,
    created,
    download,
    nothing_stored,
    post_file,
    post_text,
    scan_dir,
    without_request_id,
)

FEW_SENTENCES = (RISKY_SENTENCES[1], RISKY_SENTENCES[3])  # FEW, as paragraphs


@pytest.fixture
def users(scan_app, scan_client):
    return Accounts(scan_app, scan_client)


@pytest.fixture
def owner(users):
    return users.user()


@pytest.fixture
def keyword_app(app, monkeypatch):
    """The app without a model, given the keyword analyzer: known findings."""
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", KeywordAnalyzer())
    return app


def analyzer_of(app):
    return app.extensions["riskscan.analyzers"].model


# --- the flow ------------------------------------------------------------------------------

def test_text_scan_is_analysed_by_the_model_stored_and_read_back(scan_app, scan_client,
                                                                 owner):
    user, headers = owner
    before = datetime.now(UTC)
    scan = created(post_text(scan_client, headers, TEXT))

    check_findings(TEXT, scan)
    assert scan["source"] == "model"
    assert scan["model_version"] == analyzer_of(scan_app).version
    assert scan["filename"] is None and scan["media_type"] is None
    uuid.UUID(scan["scan_id"])
    stamped = datetime.fromisoformat(scan["timestamp"])
    assert before - timedelta(seconds=1) <= stamped <= datetime.now(UTC) + timedelta(seconds=1)

    again = scan_client.get(f"/api/v1/scans/{scan['scan_id']}", headers=headers)
    assert again.status_code == 200
    assert again.get_json() == scan
    listed = scan_client.get("/api/v1/scans", headers=headers).get_json()
    assert [item["scan_id"] for item in listed["items"]] == [scan["scan_id"]]
    assert listed["items"][0]["counts"] == scan["counts"]
    assert "data" not in listed["items"][0]
    with scan_app.app_context():
        row = db.session.get(Scan, scan["scan_id"])
        assert row.user_id == user["id"]
        assert len(row.findings) == len(scan["data"])
    # A text scan has no file to download.
    assert_problem(scan_client.get(f"/api/v1/scans/{scan['scan_id']}/file", headers=headers),
                   404)


def test_text_as_a_form_field_gives_the_same_findings_as_json(scan_client, owner):
    _, headers = owner
    as_json = created(post_text(scan_client, headers, TEXT))
    as_form = created(scan_client.post("/api/v1/scans", data={"text": TEXT}, headers=headers,
                                       content_type="multipart/form-data"))

    def key(scan):
        return [(f["risk"], f["category"], f["start"], f["end"]) for f in scan["data"]]

    assert key(as_form) == key(as_json)
    assert as_form["scan_id"] != as_json["scan_id"] and as_form["filename"] is None


def test_an_empty_file_input_with_text_scans_the_text(scan_client, owner):
    """What a browser form sends when no file was chosen: a file part with no name."""
    _, headers = owner
    scan = created(post_file(scan_client, headers, b"", "", text=FEW))
    check_findings(FEW, scan)
    assert scan["filename"] is None


@pytest.mark.parametrize("body, field", [
    ({}, "text"),
    ({"text": None}, "text"),
    ({"text": 42}, "text"),
    ({"text": ["a list"]}, "text"),
    ({"text": TEXT, "force_llm": "perhaps"}, "force_llm"),
    ({"text": TEXT, "surprise": 1}, "surprise"),
])
def test_bad_json_fields_are_422_naming_the_field(scan_app, scan_client, owner, body, field):
    _, headers = owner
    assert_problem(scan_client.post("/api/v1/scans", json=body, headers=headers), 422, field)
    nothing_stored(scan_app)


@pytest.mark.parametrize("text", ["", " ", "\n\t \r\n  "])
def test_empty_or_whitespace_text_is_422(scan_app, scan_client, owner, text):
    _, headers = owner
    assert_problem(post_text(scan_client, headers, text), 422, "text")
    assert_problem(scan_client.post("/api/v1/scans", data={"text": text}, headers=headers,
                                    content_type="multipart/form-data"), 422, "text")
    nothing_stored(scan_app)


def test_a_form_with_neither_file_nor_text_is_422(scan_client, owner):
    _, headers = owner
    assert_problem(scan_client.post("/api/v1/scans", data={"force_llm": "false"},
                                    headers=headers, content_type="multipart/form-data"),
                   422, "file")


def test_text_and_a_file_together_are_422(scan_app, scan_client, owner):
    _, headers = owner
    body = assert_problem(post_file(scan_client, headers, b"The vendor may be late.",
                                    "a.txt", text=TEXT), 422, "text")
    assert "not both" in body["detail"]
    nothing_stored(scan_app)


def test_other_content_types_are_415_and_malformed_json_400(scan_client, owner):
    _, headers = owner
    assert_problem(scan_client.post("/api/v1/scans", data=TEXT, headers=headers,
                                    content_type="text/plain"), 415)
    assert_problem(scan_client.post("/api/v1/scans", data='{"text": "unclosed',
                                    headers=headers, content_type="application/json"), 400)


@pytest.mark.parametrize("as_form", [False, True])
def test_force_llm_without_an_llm_configured_is_503_saying_so(scan_app, scan_client, owner,
                                                              as_form):
    _, headers = owner
    if as_form:
        response = scan_client.post("/api/v1/scans", data={"text": TEXT, "force_llm": "true"},
                                    headers=headers, content_type="multipart/form-data")
    else:
        response = post_text(scan_client, headers, force_llm=True)
    body = assert_problem(response, 503)
    assert "LLM" in body["detail"] and "configured" in body["detail"]
    nothing_stored(scan_app)
    # false is the default and means the model
    assert created(post_text(scan_client, headers, force_llm=False))["source"] == "model"


def test_text_over_max_document_chars_is_413_and_says_the_limit(make_app, scan_model_dir):
    app = make_app(MODEL_DIR=str(scan_model_dir), MAX_DOCUMENT_CHARS=200)
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    at_limit = (RISKY_SENTENCES[0] + " " + RISKY_SENTENCES[1]).ljust(200, ".")
    assert len(at_limit) == 200
    created(post_text(client, headers, at_limit))

    body = assert_problem(post_text(client, headers, at_limit + "."), 413)
    assert "201 characters" in body["detail"] and "limit is 200" in body["detail"]
    assert count_rows(app) == 1


def test_body_over_max_upload_mb_is_413(make_app, scan_model_dir):
    app = make_app(MODEL_DIR=str(scan_model_dir), MAX_UPLOAD_MB=0.01)  # 10 KiB
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    big = (TEXT + "\n") * 40
    assert len(big) > 10 * 1024
    assert_problem(post_text(client, headers, big), 413)
    assert_problem(post_file(client, headers, big.encode(), "big.txt"), 413)
    nothing_stored(app)
    created(post_text(client, headers))  # a small one still goes through


def test_every_scan_endpoint_needs_a_token(scan_client, owner):
    _, headers = owner
    scan_id = created(post_text(scan_client, headers))["scan_id"]
    for method, path in [("POST", "/api/v1/scans"), ("GET", "/api/v1/scans"),
                         ("GET", f"/api/v1/scans/{scan_id}"),
                         ("GET", f"/api/v1/scans/{scan_id}/file"),
                         ("DELETE", f"/api/v1/scans/{scan_id}"),
                         ("PATCH", f"/api/v1/scans/{scan_id}/findings/1"),
                         ("POST", "/api/scan"), ("GET", "/api/scans"),
                         ("GET", f"/api/scans/{scan_id}"), ("DELETE", f"/api/scans/{scan_id}")]:
        for bad in ({}, {"Authorization": "Bearer not-a-token"}):
            assert_problem(scan_client.open(path, method=method, headers=bad,
                                            json={"text": TEXT, "category": "budget"}), 401)
    assert scan_client.get(f"/api/v1/scans/{scan_id}", headers=headers).status_code == 200


# --- readiness -----------------------------------------------------------------------------

def test_ready_reports_the_loaded_model(scan_app, scan_client):
    response = scan_client.get("/ready")
    assert response.status_code == 200
    model = response.get_json()["checks"]["analyzers"]["model"]
    assert model == {"available": True}  # anonymous: the state only
    _, admin_headers = Accounts(scan_app, scan_client).user(role="admin")
    model = scan_client.get("/ready", headers=admin_headers).get_json()["checks"]["analyzers"]
    assert model["model"]["version"] == analyzer_of(scan_app).version


def test_model_dir_without_a_model_is_503_and_only_an_admin_sees_why(make_app, tmp_path):
    empty = tmp_path / "models"
    empty.mkdir()
    app = make_app(MODEL_DIR=str(empty))
    client = app.test_client()
    response = client.get("/ready")
    assert response.status_code == 503
    check = response.get_json()["checks"]["analyzers"]
    assert check["ok"] is False and check["model"]["available"] is False
    assert str(tmp_path) not in response.get_data(as_text=True)
    assert "error" not in check["model"]

    accounts = Accounts(app, client)
    _, headers = accounts.user()
    scan = post_text(client, headers)
    body = assert_problem(scan, 503)
    assert "not loaded" in body["detail"]
    assert str(tmp_path) not in scan.get_data(as_text=True)
    nothing_stored(app)

    _, admin_headers = accounts.user(role="admin")
    check = client.get("/ready", headers=admin_headers).get_json()["checks"]["analyzers"]
    assert str(empty) in check["model"]["error"]


def _truncate(path: Path, keep: int | None = None) -> None:
    data = path.read_bytes()
    path.unlink()  # a link to the session's model: never written through
    path.write_bytes(data[:keep if keep is not None else len(data) // 2])


def _garbage(path: Path) -> None:
    path.unlink(missing_ok=True)  # the test model is uncalibrated: it has no calibration.json
    path.write_bytes(bytes(range(256)) * 64)


def _missing(path: Path) -> None:
    path.unlink()


# What a bad copy, a full disk or a hand edit leaves in a model folder. The ONNX Runtime
# (the CPU default) reads model.onnx, torch reads model.safetensors.
CORRUPTIONS = {
    "config.json truncated": ({"config.json": _truncate}, {}),
    "tokenizer.json truncated": ({"tokenizer.json": _truncate}, {}),
    "calibration.json garbage": ({"calibration.json": _garbage}, {}),
    "model.onnx truncated": ({"model.onnx": lambda path: _truncate(path, 1 << 20)}, {}),
    "model.onnx garbage": ({"model.onnx": _garbage}, {}),
    "weights missing": ({"model.onnx": _missing, "model.safetensors": _missing}, {}),
    "model.safetensors truncated (torch)": (
        {"model.safetensors": lambda path: _truncate(path, 1 << 20)}, {"MODEL_RUNTIME": "torch"}),
    "model.safetensors garbage (torch)": (
        {"model.safetensors": _garbage}, {"MODEL_RUNTIME": "torch"}),
}


@pytest.mark.parametrize("corruption", CORRUPTIONS)
def test_a_corrupt_model_folder_is_503_from_ready_and_scans_not_a_crash(
        make_app, scan_model_dir, tmp_path, corruption):
    """A model folder that is there but broken: the app still starts, /ready answers 503,
    a scan answers 503 problem+json and stores nothing, and an admin's /ready says why."""
    from service.analysis.transformer import resolve_model_dir

    source = resolve_model_dir(scan_model_dir)
    folder = tmp_path / "corrupt-model"
    folder.mkdir()
    for file in source.iterdir():
        (folder / file.name).symlink_to(file.resolve())
    damage, overrides = CORRUPTIONS[corruption]
    for name, harm in damage.items():
        # The session's model has the file to break (garbage may also be a new file).
        assert (folder / name).exists() or harm is _garbage, name
        harm(folder / name)

    app = make_app(MODEL_DIR=str(folder), **overrides)
    client = app.test_client()
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.get_json()["checks"]["analyzers"]["model"]["available"] is False

    accounts = Accounts(app, client)
    _, headers = accounts.user()
    body = assert_problem(post_text(client, headers), 503)
    assert "not loaded" in body["detail"]
    nothing_stored(app)

    _, admin_headers = accounts.user(role="admin")
    check = client.get("/ready", headers=admin_headers).get_json()["checks"]["analyzers"]
    assert str(folder) in check["model"]["error"], check["model"]["error"]  # which folder


# --- listing -------------------------------------------------------------------------------

def test_list_is_newest_first_paginated_with_total(scan_client, owner):
    _, headers = owner
    ids = [created(post_text(scan_client, headers, f"Item {i}."))["scan_id"] for i in range(5)]
    newest_first = ids[::-1]

    pages = [scan_client.get(f"/api/v1/scans?page={page}&per_page=2", headers=headers)
             for page in (1, 2, 3, 4)]
    assert all(page.status_code == 200 for page in pages)
    bodies = [page.get_json() for page in pages]
    assert [[item["scan_id"] for item in body["items"]] for body in bodies] == [
        newest_first[0:2], newest_first[2:4], newest_first[4:], []]
    assert {(body["page"], body["per_page"], body["total"]) for body in bodies} == {
        (1, 2, 5), (2, 2, 5), (3, 2, 5), (4, 2, 5)}
    everything = scan_client.get("/api/v1/scans?per_page=100", headers=headers).get_json()
    assert [item["scan_id"] for item in everything["items"]] == newest_first
    assert everything["per_page"] == 100
    stamps = [item["timestamp"] for item in everything["items"]]
    assert stamps == sorted(stamps, reverse=True)


@pytest.mark.parametrize("query, field", [
    ("per_page=101", "per_page"), ("per_page=0", "per_page"), ("page=0", "page"),
    ("page=-1", "page"), ("page=two", "page"), ("per_page=1e3", "per_page"),
    ("source=human", "source"), ("category=none", "category"),
    ("category=Budget", "category"), ("created_after=yesterday", "created_after"),
    ("created_before=2024-13-01", "created_before"), ("q=" + "x" * 256, "q"),
    ("colour=blue", "colour"), ("page=99999999999999999999", "page"),
    # Valid times whose UTC falls outside years 1-9999: the database cannot hold them.
    ("created_after=9999-12-31T23:59:59-14:00", "created_after"),
    ("created_before=0001-01-01T00:00:00%2B00:01", "created_before"),
])
def test_bad_page_or_filter_is_422(scan_client, owner, query, field):
    _, headers = owner
    assert_problem(scan_client.get(f"/api/v1/scans?{query}", headers=headers), 422, field)


def test_the_list_holds_only_the_callers_scans_even_for_an_admin(scan_client, users):
    _, alice = users.user()
    _, bob = users.user()
    _, admin = users.user(role="admin")
    alices = created(post_text(scan_client, alice))["scan_id"]
    bobs = created(post_text(scan_client, bob))["scan_id"]
    for headers, expected in ((alice, [alices]), (bob, [bobs]), (admin, [])):
        body = scan_client.get("/api/v1/scans", headers=headers).get_json()
        assert [item["scan_id"] for item in body["items"]] == expected
        assert body["total"] == len(expected)
    assert scan_client.get("/api/scans", headers=admin).get_json() == []


def test_the_same_query_twice_lists_the_same_scans(team, client):
    """The list's arguments are parsed once per query string (api.Remembered); the view
    takes project_id out of its copy, and the next request must still find it."""
    own = created(post_text(client, team.owner_h))["scan_id"]
    in_project = scan_into(client, team.owner_h, team.id, "The vendor may slip.")["scan_id"]
    for _ in range(2):
        listed = client.get("/api/v1/scans", query_string={"project_id": team.id},
                            headers=team.owner_h).get_json()
        assert [item["scan_id"] for item in listed["items"]] == [in_project]
    mine = client.get("/api/v1/scans", headers=team.owner_h).get_json()["items"]
    assert {item["scan_id"] for item in mine} == {own, in_project}
    for _ in range(2):  # a malformed one is refused every time, never kept
        assert_problem(client.get("/api/v1/scans?per_page=0", headers=team.owner_h), 422,
                       "per_page")


def test_the_list_arguments_are_kept_for_short_inputs_only() -> None:
    """A page number padded with zeros is valid and answered; api.Remembered keeps only
    short inputs, so that such requests cannot fill the process's memory."""
    from webargs.multidictproxy import MultiDictProxy
    from werkzeug.datastructures import MultiDict

    from service.api import REMEMBERED_CHARS
    from service.scans.routes import ScanListArgs

    schema = ScanListArgs()
    short = MultiDictProxy(MultiDict([("page", "2")]), schema)
    padded = MultiDictProxy(MultiDict([("page", "0" * REMEMBERED_CHARS + "2")]), schema)
    for _ in range(2):
        assert schema.load(short) == schema.load(padded) == {"page": 2, "per_page": 20}
    assert len(schema._loads) == 1


def test_filter_by_source(scan_client, owner):
    _, headers = owner
    scan_id = created(post_text(scan_client, headers))["scan_id"]
    model = scan_client.get("/api/v1/scans?source=model", headers=headers).get_json()
    llm = scan_client.get("/api/v1/scans?source=llm", headers=headers).get_json()
    assert [item["scan_id"] for item in model["items"]] == [scan_id]
    assert (llm["items"], llm["total"]) == ([], 0)


def test_filter_by_category_with_the_real_model(scan_client, owner):
    _, headers = owner
    scan = created(post_text(scan_client, headers))
    created(post_text(scan_client, headers, "The team met on Tuesday."))
    for category in scan["counts"]:
        body = scan_client.get(f"/api/v1/scans?category={category}", headers=headers).get_json()
        assert scan["scan_id"] in [item["scan_id"] for item in body["items"]]
        assert all(category in item["counts"] for item in body["items"])


def test_filter_by_category_finds_exactly_the_scans_with_it(keyword_app, accounts):
    client = keyword_app.test_client()
    _, headers = accounts.user()
    budget = created(post_text(client, headers, "The budget is short. All else is fine."))
    vendor = created(post_text(client, headers, "The vendor is late. The budget is short."))
    created(post_text(client, headers, "Nothing to see here."))
    assert budget["counts"] == {"budget": 1}
    assert vendor["counts"] == {"vendor": 1, "budget": 1}

    def ids(category):
        body = client.get(f"/api/v1/scans?category={category}", headers=headers).get_json()
        assert body["total"] == len(body["items"])
        return [item["scan_id"] for item in body["items"]]

    assert ids("budget") == [vendor["scan_id"], budget["scan_id"]]
    assert ids("vendor") == [vendor["scan_id"]]
    assert ids("legal") == []


def test_filter_by_creation_time(scan_app, scan_client, owner):
    _, headers = owner
    ids = [created(post_text(scan_client, headers, "A scan."))["scan_id"] for _ in range(3)]
    moments = [datetime(2024, 1, 1, 12, tzinfo=UTC), datetime(2024, 6, 1, 0, tzinfo=UTC),
               datetime(2025, 1, 1, 12, tzinfo=UTC)]
    with scan_app.app_context():
        for scan_id, moment in zip(ids, moments):
            db.session.get(Scan, scan_id).created_at = moment
        db.session.commit()
    january, june, next_year = ids

    def listed(**query):
        response = scan_client.get("/api/v1/scans", query_string=query, headers=headers)
        assert response.status_code == 200, response.get_json()
        return [item["scan_id"] for item in response.get_json()["items"]]

    # created_after is inclusive, created_before exclusive
    assert listed(created_after="2024-06-01T00:00:00Z") == [next_year, june]
    assert listed(created_before="2024-06-01T00:00:00Z") == [january]
    assert listed(created_after="2024-01-02", created_before="2024-12-31") == [june]
    # other zones are converted; no zone means UTC
    assert listed(created_after="2024-06-01T02:00:00+02:00") == [next_year, june]
    assert listed(created_after="2024-06-01T01:00:00+02:00",
                  created_before="2024-06-01T01:00:01+01:00") == [june]
    assert listed(created_after="2024-05-31T23:59:59") == [next_year, june]
    assert listed(created_after="2026-01-01T00:00:00Z") == []
    assert scan_client.get(f"/api/v1/scans/{june}", headers=headers).get_json()[
        "timestamp"].startswith("2024-06-01T00:00:00")


def test_filter_by_filename_treats_sql_and_wildcards_as_text(scan_client, owner):
    _, headers = owner
    names = ["Q3-risks.txt", "notes.md", "100%_done.txt", "o'brien.txt"]
    ids = {name: created(post_file(scan_client, headers, b"A scan.", name))["scan_id"]
           for name in names}
    created(post_text(scan_client, headers, "A scan."))  # no filename at all

    def listed(q):
        response = scan_client.get("/api/v1/scans", query_string={"q": q}, headers=headers)
        assert response.status_code == 200, response.get_json()
        return sorted(item["filename"] for item in response.get_json()["items"])

    assert listed("risks") == ["Q3-risks.txt"]
    assert listed("RISKS") == ["Q3-risks.txt"]
    assert listed(".txt") == sorted(["Q3-risks.txt", "100%_done.txt", "o'brien.txt"])
    assert listed("%") == ["100%_done.txt"]
    assert listed("_") == ["100%_done.txt"]
    assert listed("'") == ["o'brien.txt"]
    assert listed("o'brien") == ["o'brien.txt"]
    for injection in ("' OR '1'='1", "%' OR 1=1 --", "x'); DROP TABLE scans; --", "\\", "/"):
        assert listed(injection) == []
    assert count_rows(scan_client.application) == len(ids) + 1


@pytest.mark.parametrize("query", [
    "category=budget' OR '1'='1", "source=model' --", "source=model%20OR%201=1",
    "created_after=2020-01-01' OR 1=1 --", "page=1;DROP TABLE scans", "per_page=10 OR 1=1",
])
def test_sql_looking_filters_are_422_and_harm_nothing(scan_client, owner, query):
    _, headers = owner
    created(post_text(scan_client, headers))
    assert_problem(scan_client.get(f"/api/v1/scans?{query}", headers=headers), 422)
    assert scan_client.get("/api/v1/scans", headers=headers).get_json()["total"] == 1


# --- ownership -----------------------------------------------------------------------------

def verbs(scan_id, finding_id):
    """Every request on one scan: (label, method, path, json)."""
    return [
        ("get", "GET", f"/api/v1/scans/{scan_id}", None),
        ("file", "GET", f"/api/v1/scans/{scan_id}/file", None),
        ("delete", "DELETE", f"/api/v1/scans/{scan_id}", None),
        ("correct", "PATCH", f"/api/v1/scans/{scan_id}/findings/{finding_id}",
         {"category": "budget"}),
        ("legacy get", "GET", f"/api/scans/{scan_id}", None),
        ("legacy delete", "DELETE", f"/api/scans/{scan_id}", None),
    ]


@pytest.fixture
def alices_scan(scan_app, scan_client, users):
    """Alice's scan of a docx (so it has a file), with its first finding."""
    alice, headers = users.user()
    data = make_docx(FEW_SENTENCES)
    scan = created(post_file(scan_client, headers, data, "plan.docx"))
    assert scan["data"], "the model found no risk"
    return alice, headers, scan, data


def test_another_users_scan_is_404_like_a_missing_one_for_every_verb(
        scan_app, scan_client, users, alices_scan):
    alice, alice_headers, scan, data = alices_scan
    _, bob = users.user()
    finding_id = scan["data"][0]["id"]
    missing = str(uuid.uuid4())
    for (label, method, path, body), (_, _, missing_path, _) in zip(
            verbs(scan["scan_id"], finding_id), verbs(missing, finding_id)):
        theirs = scan_client.open(path, method=method, json=body, headers=bob)
        absent = scan_client.open(missing_path, method=method, json=body, headers=bob)
        assert_problem(theirs, 404)
        assert_problem(absent, 404)
        assert without_request_id(theirs) == without_request_id(absent), label

    # Alice's scan, its file and its finding are untouched.
    mine = scan_client.get(f"/api/v1/scans/{scan['scan_id']}", headers=alice_headers)
    assert mine.get_json() == scan
    assert download(scan_client, scan["scan_id"], alice_headers) == (200, data)
    assert scan_dir(scan_app, alice["id"], scan["scan_id"]).is_dir()


def test_admin_reads_any_scan_and_file_but_cannot_delete_or_correct_it(
        scan_app, scan_client, users, alices_scan):
    alice, alice_headers, scan, data = alices_scan
    _, admin = users.user(role="admin")
    url = f"/api/v1/scans/{scan['scan_id']}"

    read = scan_client.get(url, headers=admin)
    assert read.status_code == 200 and read.get_json() == scan
    assert download(scan_client, scan["scan_id"], admin) == (200, data)
    legacy = scan_client.get(f"/api/scans/{scan['scan_id']}", headers=admin)
    assert legacy.status_code == 200 and legacy.get_json()["scan_id"] == scan["scan_id"]

    missing = str(uuid.uuid4())
    finding = scan["data"][0]["id"]
    for path, missing_path, method, body in [
            (url, f"/api/v1/scans/{missing}", "DELETE", None),
            (f"/api/scans/{scan['scan_id']}", f"/api/scans/{missing}", "DELETE", None),
            (f"{url}/findings/{finding}", f"/api/v1/scans/{missing}/findings/{finding}",
             "PATCH", {"category": "legal"})]:
        refused = scan_client.open(path, method=method, json=body, headers=admin)
        assert_problem(refused, 404)
        assert without_request_id(refused) == without_request_id(
            scan_client.open(missing_path, method=method, json=body, headers=admin))
    assert scan_client.get(url, headers=alice_headers).get_json() == scan
    assert scan_dir(scan_app, alice["id"], scan["scan_id"]).is_dir()


MALFORMED_IDS = [
    "abc", "1", "0", "-1", "null", "undefined", "' OR '1'='1", "1 OR 1=1",
    "1; DROP TABLE scans", "%27%20OR%20%271%27%3D%271", "x" * 2000, "%00", "..",
    "00000000-0000-0000-0000-00000000000g", "00000000-0000-0000-0000-0000000000000",
    "12345678-1234-5678-1234-56781234567", "\u00e9t\u00e9", "%F0%9F%92%A5",
]


@pytest.mark.parametrize("bad_id", MALFORMED_IDS)
def test_malformed_scan_ids_are_404_never_500(scan_app, scan_client, alices_scan, bad_id):
    _, headers, scan, _ = alices_scan
    for label, method, path, body in verbs(bad_id, scan["data"][0]["id"]):
        assert_problem(scan_client.open(path, method=method, json=body, headers=headers), 404)
    assert count_rows(scan_app) == 1


@pytest.mark.parametrize("bad_id", ["abc", "0", "-1", "1.5", "1 OR 1=1", "1'--",
                                    "99999999999999999999999", "%00"])
def test_malformed_finding_ids_are_404(scan_client, alices_scan, bad_id):
    _, headers, scan, _ = alices_scan
    assert_problem(scan_client.patch(f"/api/v1/scans/{scan['scan_id']}/findings/{bad_id}",
                                     json={"category": "legal"}, headers=headers), 404)


def test_a_finding_of_another_scan_cannot_be_corrected_through_this_one(
        scan_client, users, alices_scan):
    _, alice_headers, alices, _ = alices_scan
    _, bob = users.user()
    bobs = created(post_text(scan_client, bob))
    # Bob names his own scan and Alice's finding; Alice names her scan and Bob's finding.
    for headers, scan, finding in ((bob, bobs, alices["data"][0]),
                                   (alice_headers, alices, bobs["data"][0])):
        assert_problem(scan_client.patch(
            f"/api/v1/scans/{scan['scan_id']}/findings/{finding['id']}",
            json={"category": "legal"}, headers=headers), 404)
    stored = scan_client.get(f"/api/v1/scans/{alices['scan_id']}", headers=alice_headers)
    assert all(f["corrected_category"] is None for f in stored.get_json()["data"])


def test_scan_id_in_another_spelling_answers_the_same_on_every_backend(scan_client,
                                                                      alices_scan):
    """Upper-case or brace forms of an id are not the id: 404 on SQLite and MySQL alike
    (MySQL compares case-insensitively, so it must not be left to the database)."""
    _, headers, scan, _ = alices_scan
    for spelling in (scan["scan_id"].upper(), "{" + scan["scan_id"] + "}",
                     scan["scan_id"].replace("-", ""), "urn:uuid:" + scan["scan_id"]):
        for _, method, path, body in verbs(spelling, scan["data"][0]["id"]):
            assert_problem(scan_client.open(path, method=method, json=body, headers=headers),
                           404)
    assert scan_client.get(f"/api/v1/scans/{scan['scan_id']}", headers=headers).status_code \
        == 200


# --- delete --------------------------------------------------------------------------------

def test_delete_removes_the_scan_its_findings_and_its_file(scan_app, scan_client,
                                                           alices_scan):
    alice, headers, scan, _ = alices_scan
    folder = scan_dir(scan_app, alice["id"], scan["scan_id"])
    assert (folder / "original.docx").is_file()
    url = f"/api/v1/scans/{scan['scan_id']}"

    response = scan_client.delete(url, headers=headers)
    assert response.status_code == 204 and response.data == b""
    assert not folder.exists()
    assert_problem(scan_client.get(url, headers=headers), 404)
    assert_problem(scan_client.get(f"{url}/file", headers=headers), 404)
    assert_problem(scan_client.delete(url, headers=headers), 404)
    assert scan_client.get("/api/v1/scans", headers=headers).get_json()["total"] == 0
    assert count_rows(scan_app, Scan) == 0
    assert count_rows(scan_app, ScanFinding) == 0


def test_deleting_one_scan_leaves_the_others(scan_app, scan_client, alices_scan):
    alice, headers, first, data = alices_scan
    second = created(post_file(scan_client, headers, data, "plan-v2.docx"))
    assert scan_client.delete(f"/api/v1/scans/{first['scan_id']}",
                              headers=headers).status_code == 204
    assert scan_dir(scan_app, alice["id"], second["scan_id"]).is_dir()
    assert download(scan_client, second["scan_id"], headers) == (200, data)
    assert count_rows(scan_app, ScanFinding) == len(second["data"])


def test_deleting_a_user_deletes_their_scans(scan_app, scan_client, users, alices_scan):
    alice, _, scan, _ = alices_scan
    _, admin = users.user(role="admin")
    assert scan_client.delete(f"/api/v1/users/{alice['id']}", headers=admin).status_code == 204
    assert count_rows(scan_app, Scan) == 0 and count_rows(scan_app, ScanFinding) == 0
    assert_problem(scan_client.get(f"/api/v1/scans/{scan['scan_id']}", headers=admin), 404)


def test_deleting_a_user_deletes_their_stored_files(scan_app, scan_client, users,
                                                    alices_scan):
    alice, _, scan, _ = alices_scan
    _, admin = users.user(role="admin")
    assert scan_dir(scan_app, alice["id"], scan["scan_id"]).is_dir()
    assert scan_client.delete(f"/api/v1/users/{alice['id']}", headers=admin).status_code == 204
    assert not scan_dir(scan_app, alice["id"], scan["scan_id"]).parent.exists()


# --- failures leave nothing behind ---------------------------------------------------------

@pytest.mark.parametrize("error, status", [(RuntimeError("boom"), 500),
                                           (AnalysisError("the GPU fell over"), 503)])
def test_a_failure_during_analysis_stores_no_row_and_no_file(scan_app, scan_client, owner,
                                                             monkeypatch, error, status):
    _, headers = owner

    def fail(text, **_options):
        raise error

    monkeypatch.setattr(analyzer_of(scan_app), "analyze", fail)
    body = assert_problem(post_file(scan_client, headers, make_docx(FEW_SENTENCES),
                                    "plan.docx"), status)
    assert "boom" not in body["detail"]
    assert_problem(post_text(scan_client, headers), status)
    nothing_stored(scan_app)


def test_a_failed_file_write_stores_no_row_and_no_folder(scan_app, scan_client, owner,
                                                         monkeypatch):
    _, headers = owner

    def disk_full(self, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", disk_full)
    assert_problem(post_file(scan_client, headers, make_docx(FEW_SENTENCES), "plan.docx"),
                   500)
    nothing_stored(scan_app)


def test_a_failed_commit_removes_the_file_already_written(scan_app, scan_client, owner,
                                                          monkeypatch):
    _, headers = owner
    written = []
    real_write = Path.write_bytes

    def write_then_remember(self, data):
        written.append(self)
        return real_write(self, data)

    def commit_fails():
        raise RuntimeError("the database went away mid-commit")

    monkeypatch.setattr(Path, "write_bytes", write_then_remember)
    monkeypatch.setattr(db.session, "commit", commit_fails)
    assert_problem(post_file(scan_client, headers, make_docx(FEW_SENTENCES), "plan.docx"),
                   500)
    monkeypatch.undo()
    assert written and not written[0].exists() and not written[0].parent.exists()
    nothing_stored(scan_app)


def test_an_unwritable_upload_dir_stores_no_row(make_app, scan_model_dir, tmp_path):
    blocker = tmp_path / "uploads-is-a-file"
    blocker.write_text("not a folder")
    app = make_app(MODEL_DIR=str(scan_model_dir), UPLOAD_DIR=str(blocker))
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    assert_problem(post_file(client, headers, make_docx(FEW_SENTENCES), "plan.docx"), 500)
    assert count_rows(app, Scan) == 0 and count_rows(app, ScanFinding) == 0
    assert blocker.read_text() == "not a folder"
    created(post_text(client, headers))  # text scans store no file and still work


# --- concurrency ---------------------------------------------------------------------------

def test_several_threads_posting_at_once_all_persist(scan_app, users):
    threads_count = 8
    people = [users.user() for _ in range(2)]
    start = threading.Barrier(threads_count)
    results: list = [None] * threads_count

    def post(index):
        client = scan_app.test_client()
        user, headers = people[index % 2]
        start.wait(timeout=30)
        if index % 2:
            response = post_file(client, headers, make_docx(FEW_SENTENCES),
                                 f"plan-{index}.docx")
        else:
            response = post_text(client, headers, f"{FEW} Thread {index}.")
        results[index] = (user, response.status_code, response.get_json())

    threads = [threading.Thread(target=post, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert [status for _, status, _ in results] == [201] * threads_count, results

    ids = {body["scan_id"] for _, _, body in results}
    assert len(ids) == threads_count
    with scan_app.app_context():
        rows = db.session.scalars(select(Scan)).all()
        assert {row.id for row in rows} == ids
        stored = {row.id: len(row.findings) for row in rows}
    for user, _, body in results:
        assert stored[body["scan_id"]] == len(body["data"]) > 0
        if body["filename"]:
            assert (scan_dir(scan_app, user["id"], body["scan_id"]) / "original.docx").is_file()
    client = scan_app.test_client()
    for user, headers in people:
        assert client.get("/api/v1/scans", headers=headers).get_json()["total"] == 4


# --- corrections and the feedback export ---------------------------------------------------

def test_a_correction_is_kept_beside_the_model_label(scan_app, scan_client, owner):
    user, headers = owner
    scan = created(post_text(scan_client, headers))
    finding = scan["data"][0]
    other = "legal" if finding["category"] != "legal" else "vendor"
    url = f"/api/v1/scans/{scan['scan_id']}/findings/{finding['id']}"

    response = scan_client.patch(url, json={"category": other}, headers=headers)
    assert response.status_code == 200
    # Waiting for a reviewer: the owner is no reviewer (a rejection would put it back).
    assert response.get_json() == {**finding, "corrected_category": other, "review": "pending"}

    stored = scan_client.get(f"/api/v1/scans/{scan['scan_id']}", headers=headers).get_json()
    assert stored["data"][0]["category"] == finding["category"]
    assert stored["data"][0]["corrected_category"] == other
    assert stored["data"][1:] == scan["data"][1:]
    with scan_app.app_context():
        row = db.session.get(ScanFinding, finding["id"])
        assert row.corrected_by == user["id"] and row.corrected_at is not None

    # "none" says the sentence is not a risk at all; a later correction replaces it
    for label in ("none", finding["category"]):
        response = scan_client.patch(url, json={"category": label}, headers=headers)
        assert response.get_json()["corrected_category"] == label


@pytest.mark.parametrize("body, status", [
    ({"category": "Budget"}, 422), ({"category": "risk"}, 422), ({"category": ""}, 422),
    ({"category": None}, 422), ({}, 422), ({"category": "legal", "extra": 1}, 422),
])
def test_a_correction_must_be_one_of_the_labels(scan_client, owner, body, status):
    _, headers = owner
    scan = created(post_text(scan_client, headers))
    url = f"/api/v1/scans/{scan['scan_id']}/findings/{scan['data'][0]['id']}"
    assert_problem(scan_client.patch(url, json=body, headers=headers), status)
    assert_problem(scan_client.patch(url, data="category=legal", headers=headers,
                                     content_type="application/x-www-form-urlencoded"), 415)
    stored = scan_client.get(f"/api/v1/scans/{scan['scan_id']}", headers=headers).get_json()
    assert stored["data"][0]["corrected_category"] is None


def test_the_category_filter_follows_corrections(keyword_app, accounts):
    client = keyword_app.test_client()
    _, headers = accounts.user()
    scan = created(post_text(client, headers, "The budget is short."))
    finding = scan["data"][0]
    assert finding["category"] == "budget"
    client.patch(f"/api/v1/scans/{scan['scan_id']}/findings/{finding['id']}",
                 json={"category": "schedule"}, headers=headers)

    def total(category):
        return client.get(f"/api/v1/scans?category={category}",
                          headers=headers).get_json()["total"]

    assert (total("budget"), total("schedule")) == (0, 1)


def test_list_items_are_the_scans_as_read_one_by_one(keyword_app, accounts):
    """The list computes counts in one grouped query (service/scans/routes.py); each item
    must equal the scan read alone (Scan.counts() over its findings) without data and
    dropped, key order included, on every page and filter: corrections to another
    category and to none, a scan without findings, categories in first-finding order."""
    client = keyword_app.test_client()
    _, headers = accounts.user()
    _, other = accounts.user()
    texts = ["The vendor is late. The budget is short. The vendor left. Plans slip.",
             "Nothing to see here.", "Dates slip. The budget is short. The budget grew.",
             "The password leaked. The vendor is late.", "The budget is short."]
    scans = [created(post_text(client, headers, text)) for text in texts]
    created(post_text(client, other, texts[0]))  # another user's scan is never counted
    vendor_first = scans[0]
    for finding, category in zip(vendor_first["data"], ("schedule", "none")):
        client.patch(f"/api/v1/scans/{vendor_first['scan_id']}/findings/{finding['id']}",
                     json={"category": category}, headers=headers).get_json()
    only = scans[4]
    client.patch(f"/api/v1/scans/{only['scan_id']}/findings/{only['data'][0]['id']}",
                 json={"category": "none"}, headers=headers)

    def alone(scan_id):
        body = client.get(f"/api/v1/scans/{scan_id}", headers=headers).get_json()
        return {key: value for key, value in body.items() if key not in ("data", "dropped")}

    expected = [alone(scan["scan_id"]) for scan in reversed(scans)]
    assert [item["counts"] for item in expected] == [
        {}, {"security": 1, "vendor": 1}, {"schedule": 1, "budget": 2}, {},
        {"schedule": 2, "vendor": 1}]
    for query, wanted in [("", expected), ("per_page=2", expected[:2]),
                          ("per_page=2&page=3", expected[4:]),
                          ("category=budget", [expected[2]]),
                          ("category=vendor", [expected[1], expected[4]])]:
        response = client.get(f"/api/v1/scans?{query}", headers=headers)
        assert response.status_code == 200
        listed = json.loads(response.get_data())
        assert listed["items"] == wanted
        assert [list(item) for item in listed["items"]] == [list(item) for item in wanted]
        assert [list(item["counts"]) for item in listed["items"]] == [
            list(item["counts"]) for item in wanted]
    past = client.get("/api/v1/scans?per_page=2&page=4", headers=headers).get_json()
    assert (past["items"], past["total"], past["page"]) == ([], 5, 4)
    nothing = client.get("/api/v1/scans?source=llm", headers=headers).get_json()
    assert (nothing["items"], nothing["total"]) == ([], 0)


def stored_counts(app, scan_id):
    with app.app_context():
        return db.session.get(Scan, scan_id).category_counts


def test_a_scan_stores_its_counts_and_a_correction_forgets_them(keyword_app, accounts):
    """Scan.category_counts is the list's copy of counts(): written with the scan, NULL
    (counted from the findings) from the first correction on; the list follows at once."""
    client = keyword_app.test_client()
    _, headers = accounts.user()
    scan = created(post_text(client, headers, "The vendor is late. The budget is short. "
                                              "The vendor left."))
    assert stored_counts(keyword_app, scan["scan_id"]) == [["vendor", 2], ["budget", 1]]
    assert scan["counts"] == {"vendor": 2, "budget": 1}

    def listed():
        return client.get("/api/v1/scans", headers=headers).get_json()["items"][0]["counts"]

    assert listed() == {"vendor": 2, "budget": 1}
    url = f"/api/v1/scans/{scan['scan_id']}/findings/{scan['data'][0]['id']}"
    assert client.patch(url, json={"category": "legal"}, headers=headers).status_code == 200
    assert stored_counts(keyword_app, scan["scan_id"]) is None
    assert listed() == {"legal": 1, "budget": 1, "vendor": 1}
    assert list(listed()) == ["legal", "budget", "vendor"]
    client.patch(url, json={"category": "none"}, headers=headers)
    assert listed() == {"budget": 1, "vendor": 1}
    created(post_text(client, headers, "Nothing to see here."))
    assert listed() == {}
    assert stored_counts(keyword_app, client.get("/api/v1/scans", headers=headers)
                         .get_json()["items"][0]["scan_id"]) == []


def test_any_change_to_a_finding_forgets_the_stored_counts(keyword_app, accounts):
    """Changed through the ORM anywhere (not only by PATCH), a finding's scan recounts."""
    client = keyword_app.test_client()
    _, headers = accounts.user()
    scan = created(post_text(client, headers, "The vendor is late. The budget is short."))
    with keyword_app.app_context():
        finding = db.session.scalar(select(ScanFinding).where(
            ScanFinding.scan_id == scan["scan_id"], ScanFinding.position == 1))
        finding.category = "legal"
        db.session.commit()
    assert stored_counts(keyword_app, scan["scan_id"]) is None
    listed = client.get("/api/v1/scans", headers=headers).get_json()["items"][0]
    assert listed["counts"] == {"vendor": 1, "legal": 1}
    with keyword_app.app_context():
        stored = db.session.get(Scan, scan["scan_id"])
        stored.category_counts = [["vendor", 1], ["legal", 1]]
        db.session.delete(stored.findings[0])
        db.session.commit()
    assert stored_counts(keyword_app, scan["scan_id"]) is None
    listed = client.get("/api/v1/scans", headers=headers).get_json()["items"][0]
    assert listed["counts"] == {"legal": 1}


@pytest.mark.parametrize("how", ["logout", "deactivated", "deleted", "tokens-revoked"])
def test_the_list_refuses_a_token_on_the_very_next_request(keyword_app, accounts, how):
    """Nothing of a token's check is kept between requests: what another process (here,
    the database directly) did to the token or its user counts on the next request."""
    from service.db import User

    client = keyword_app.test_client()
    user, headers = accounts.user()
    created(post_text(client, headers, "The budget is short."))
    assert client.get("/api/v1/scans", headers=headers).status_code == 200
    if how == "logout":
        assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    else:
        with keyword_app.app_context():
            stored = db.session.get(User, user["id"])
            if how == "deactivated":
                stored.active = False
            elif how == "deleted":
                db.session.delete(stored)
            else:
                stored.token_version += 1
            db.session.commit()
    assert_problem(client.get("/api/v1/scans", headers=headers), 401)
    assert_problem(client.get("/api/scans", headers=headers), 401)


def test_the_lists_own_dump_is_what_the_schema_dumps():
    """ScanSummary.to_json (the list's serializer) against marshmallow's dump of the same
    fields: every value kind, key order included."""
    from service.scans.listing import ScanSummary
    from service.scans.schemas import ScanSummaryPageSchema, ScanSummarySchema

    stamp = datetime(2026, 3, 4, 5, 6, 7, 89, tzinfo=UTC)
    items = [
        ScanSummary("a" * 36, None, "model", "minilm-1", stamp, None, None, None, None, None,
                    0, {}),
        ScanSummary("b" * 36, "c" * 36, "llm", "gpt", stamp.replace(microsecond=0),
                    date(2026, 3, 1), "document", "r%_é.pdf", "Risks “Q3” – 100%…",
                    "application/pdf", 12345, {"vendor": 2, "budget": 1}),
    ]
    for item in items:
        assert json.dumps(item.to_json()) == json.dumps(ScanSummarySchema().dump(item))
    page = {"items": items, "page": 2, "per_page": 20, "total": 22}
    generic = {"items": [ScanSummarySchema().dump(item) for item in items],
               "page": 2, "per_page": 20, "total": 22}
    assert json.dumps(ScanSummaryPageSchema().dump(page)) == json.dumps(generic)
    assert list(ScanSummaryPageSchema().fields) == ["items", "page", "per_page", "total"]


def test_the_migration_counts_the_scans_stored_before_it(unmigrated_app):
    """db/versions/f31fa3f8d2d3: scans stored before it get category_counts = counts(), on
    SQLite and MariaDB (a GROUP BY ordered by MIN(), a JSON column MariaDB stores as text)."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    app = unmigrated_app
    with app.app_context():
        upgrade(revision="d3ba69a86e6b")
        db.session.execute(text(
            "INSERT INTO users (id, email, password_hash, role, active, token_version, "
            "created_at, updated_at) VALUES ('u', 'u@example.com', 'x', 'user', 1, 0, "
            "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
        for scan_id in ("s1", "s2", "s3"):
            db.session.execute(text(
                "INSERT INTO scans (id, user_id, source, model_version, text_length, dropped, "
                "created_at) VALUES (:id, 'u', 'model', 'v', 1, 0, '2026-01-01 00:00:00')"),
                {"id": scan_id})
        findings = [("s1", 0, "vendor", None), ("s1", 1, "budget", "schedule"),
                    ("s1", 2, "budget", None), ("s1", 3, "vendor", "none"),
                    ("s1", 4, "schedule", None), ("s2", 0, "none", "legal")]
        for scan_id, position, category, corrected in findings:
            db.session.execute(text(
                "INSERT INTO findings (scan_id, position, risk, category, context, "
                "start_offset, end_offset, corrected_category) VALUES (:scan_id, :position, "
                "'r', :category, 'c', 0, 1, :corrected)"),
                {"scan_id": scan_id, "position": position, "category": category,
                 "corrected": corrected})
        db.session.commit()
        upgrade()
        scans = {scan.id: scan for scan in db.session.scalars(select(Scan))}
        assert {scan_id: scan.category_counts for scan_id, scan in scans.items()} == {
            "s1": [["vendor", 1], ["schedule", 2], ["budget", 1]], "s2": [["legal", 1]],
            "s3": []}
        assert {i: dict(s.category_counts) for i, s in scans.items()} == {i: s.counts() for i, s in scans.items()}
        db.session.remove()


def export_corrections(app, path) -> list[dict]:
    result = app.test_cli_runner().invoke(args=["export-corrections", "--out", str(path)])
    assert result.exit_code == 0, result.output
    lines = path.read_text(encoding="utf-8").splitlines()
    assert f"wrote {len(lines)} corrected sentences" in result.output
    return [json.loads(line) for line in lines]


def test_export_corrections_writes_the_majority_of_the_accepted_votes(
        keyword_app, accounts, tmp_path):
    """What a training learns: each person's newest label of a sentence is one vote, the
    majority decides and a tie drops it; a correction no reviewer accepted is no vote."""
    client = keyword_app.test_client()
    _, alice = accounts.user(role="reviewer")  # a reviewer's own are accepted at once
    _, bob = accounts.user(role="reviewer")
    _, carol = accounts.user(role="reviewer")
    _, mallory = accounts.user()
    text = "The budget is short. The vendor is late. Plans slip. Ünïcode budget – “quoted”."
    scans = {who: created(post_text(client, headers, text))
             for who, headers in (("alice", alice), ("bob", bob), ("carol", carol),
                                  ("mallory", mallory))}
    assert len(scans["alice"]["data"]) == 4

    def correct(headers, who, index, label):
        scan = scans[who]
        response = client.patch(
            f"/api/v1/scans/{scan['scan_id']}/findings/{scan['data'][index]['id']}",
            json={"category": label}, headers=headers)
        assert response.status_code == 200

    out = tmp_path / "feedback.jsonl"
    assert export_corrections(keyword_app, out) == []  # nothing corrected: nothing exported

    correct(alice, "alice", 0, "vendor")     # "The budget is short.": Alice says vendor,
    correct(bob, "bob", 0, "schedule")       # Bob schedule: a tie, dropped
    correct(alice, "alice", 1, "none")       # "The vendor is late." is not a risk
    correct(bob, "bob", 3, "stakeholder")
    for index in range(4):                   # an unreviewed account's word is no vote
        correct(mallory, "mallory", index, "none")
    exported = export_corrections(keyword_app, out)
    assert Counter((line["text"], line["label"]) for line in exported) == Counter({
        ("The vendor is late.", "none"): 1,
        ("Ünïcode budget – “quoted”.", "stakeholder"): 1,
    })
    assert "Ünïcode" in out.read_text(encoding="utf-8")  # UTF-8, not \u escapes

    correct(carol, "carol", 0, "schedule")   # Carol sides with Bob: schedule, two to one
    correct(alice, "alice", 0, "legal")      # Alice changing her word is still one vote
    exported = export_corrections(keyword_app, out)
    assert {line["text"]: line["label"] for line in exported}["The budget is short."] == (
        "schedule")
    assert len(exported) == 3


def test_export_corrections_with_the_real_model(scan_app, scan_client, tmp_path):
    _, headers = Accounts(scan_app, scan_client).user(role="reviewer")
    scan = created(post_text(scan_client, headers))
    finding = scan["data"][0]
    scan_client.patch(f"/api/v1/scans/{scan['scan_id']}/findings/{finding['id']}",
                      json={"category": "stakeholder"}, headers=headers)
    exported = export_corrections(scan_app, tmp_path / "out.jsonl")
    assert [(line["text"], line["label"]) for line in exported] == [
        (finding["risk"], "stakeholder")]


# --- the seed-004 contract -----------------------------------------------------------------

LEGACY_KEYS = {"scan_id", "data", "source", "timestamp"}


def test_seed_004_contract_end_to_end(scan_app, scan_client):
    email, password = "legacy@example.com", "legacy-password-1"
    registered = scan_client.post("/api/auth/register",
                                  json={"email": email, "password": password})
    assert registered.status_code == 201
    tokens = scan_client.post("/api/auth/login", json={"email": email, "password": password})
    assert tokens.status_code == 200
    headers = {"Authorization": f"Bearer {tokens.get_json()['access_token']}"}
    me = scan_client.get("/api/auth/me", headers=headers)
    assert me.status_code == 200 and me.get_json()["email"] == email

    data = make_docx(FEW_SENTENCES)
    from_file = post_file(scan_client, headers, data, "plan.docx", path="/api/scan")
    assert from_file.status_code == 201, from_file.get_json()
    file_scan = from_file.get_json()
    assert LEGACY_KEYS <= file_scan.keys() and file_scan["source"] == "model"
    assert file_scan["filename"] == "plan.docx" and file_scan["data"]
    from_text = scan_client.post("/api/scan", data={"text": TEXT, "force_llm": "false"},
                                 headers=headers, content_type="multipart/form-data")
    assert from_text.status_code == 201, from_text.get_json()
    text_scan = from_text.get_json()
    check_findings(TEXT, {**text_scan, "counts": dict(Counter(
        f["category"] for f in text_scan["data"])), "text_length": len(TEXT)})

    listed = scan_client.get("/api/scans", headers=headers)
    assert listed.status_code == 200
    assert [scan["scan_id"] for scan in listed.get_json()] == [text_scan["scan_id"],
                                                             file_scan["scan_id"]]
    assert listed.get_json()[1]["data"] == file_scan["data"]
    assert [s["scan_id"] for s in scan_client.get("/api/scans?per_page=1&page=2",
                                                  headers=headers).get_json()] == [
        file_scan["scan_id"]]
    one = scan_client.get(f"/api/scans/{file_scan['scan_id']}", headers=headers)
    assert one.status_code == 200 and one.get_json() == file_scan
    # the same scan through v1
    v1 = scan_client.get(f"/api/v1/scans/{file_scan['scan_id']}", headers=headers).get_json()
    assert v1["data"] == file_scan["data"]

    user_id = me.get_json()["id"]
    assert scan_dir(scan_app, user_id, file_scan["scan_id"]).is_dir()
    gone = scan_client.delete(f"/api/scans/{file_scan['scan_id']}", headers=headers)
    assert gone.status_code == 204
    assert not scan_dir(scan_app, user_id, file_scan["scan_id"]).exists()
    assert_problem(scan_client.get(f"/api/scans/{file_scan['scan_id']}", headers=headers), 404)
    assert [s["scan_id"] for s in scan_client.get("/api/scans", headers=headers).get_json()] \
        == [text_scan["scan_id"]]


def test_seed_004_scan_errors_are_problems_too(scan_app, scan_client, owner):
    _, headers = owner
    assert_problem(scan_client.post("/api/scan", data={"text": "  "}, headers=headers,
                                    content_type="multipart/form-data"), 422)
    assert_problem(post_file(scan_client, headers, b"\x00\x01binary", "x.exe",
                             path="/api/scan"), 415)
    assert_problem(scan_client.get("/api/scans?per_page=101", headers=headers), 422)
    assert_problem(scan_client.get("/api/scans/' OR 1=1 --", headers=headers), 404)
    nothing_stored(scan_app)


def test_a_search_with_a_nul_is_a_422_not_every_scan(scan_client, owner):
    """SQLite reads a LIKE pattern up to its first NUL: ``q=%00`` was ``%`` and listed every
    scan. A control character in ``q`` (a tab or a line break aside) is refused, naming
    ``q``; a search across a line break still finds its scan."""
    _, headers = owner
    lines = created(post_text(scan_client, headers, "The vendor may slip.\nThe budget too."))
    created(post_text(scan_client, headers, "Another scan."))
    for q in ("\x00", "vendor\x00", "\x1b[2J"):
        response = scan_client.get("/api/v1/scans", query_string={"q": q}, headers=headers)
        assert_problem(response, 422, "q")
    found = scan_client.get("/api/v1/scans", query_string={"q": "slip.\nThe"},
                            headers=headers)
    assert [item["scan_id"] for item in found.get_json()["items"]] == [lines["scan_id"]]
