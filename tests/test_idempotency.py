"""Safe retries (issue #19): the Idempotency-Key header on POST /api/v1/scans and
POST /api/v1/jobs (service/idempotency.py), on SQLite and MariaDB.

The scans here use the keyword stand-in for the model (tests/scanning.py): these tests are
about retries, not analysis."""

from __future__ import annotations

import io
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select, update

from service import idempotency
from service.db import IdempotencyKey, Job, Scan
from service.extensions import db
from tests.helpers import Accounts, assert_problem
from tests.jobs import wait_for
from tests.scanning import KeywordAnalyzer, count_rows, statements_run

SCANS = "/api/v1/scans"
JOBS = "/api/v1/jobs"
TEXT = "The budget may overrun by June. The rest is fine."
OTHER_TEXT = "The vendor may deliver late. The rest is fine."


@pytest.fixture
def accounts(keyword_app, client):
    return Accounts(keyword_app, client)


@pytest.fixture
def alice(accounts):
    return accounts.user()


def keyed(headers: dict, key: str) -> dict:
    return {**headers, "Idempotency-Key": key}


def new_key() -> str:
    return str(uuid.uuid4())


def scan_total(client, headers) -> int:
    response = client.get(SCANS, headers=headers)
    assert response.status_code == 200
    return response.get_json()["total"]


def multipart(boundary: str, fields: list[tuple[str, str]],
              files: list[tuple[str, str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body with the boundary chosen by the caller."""
    body = b""
    for name, value in fields:
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                 f"{value}\r\n").encode()
    for name, filename, data in files:
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
                 f"filename=\"{filename}\"\r\nContent-Type: text/plain\r\n\r\n").encode()
        body += data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def key_rows(app) -> list:
    with app.app_context():
        rows = db.session.execute(select(IdempotencyKey.user_id, IdempotencyKey.status,
                                         IdempotencyKey.created_at)).all()
        db.session.remove()
        return rows


def assert_replayed(first, again):
    assert again.status_code == first.status_code
    assert again.get_data() == first.get_data()
    assert again.mimetype == first.mimetype
    assert again.headers.get("Location") == first.headers.get("Location")
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers


# --- without a key -------------------------------------------------------------------------

def test_without_a_key_nothing_changes_and_the_table_is_not_touched(keyword_app, client,
                                                                     alice):
    _, headers = alice
    with statements_run(keyword_app) as statements:
        for _ in range(2):
            assert client.post(SCANS, json={"text": TEXT}, headers=headers).status_code == 201
    assert scan_total(client, headers) == 2
    assert statements and not [s for s in statements if "idempotency_keys" in s]
    assert key_rows(keyword_app) == []


# --- replays -------------------------------------------------------------------------------

def test_a_retried_json_scan_gets_the_first_answer_and_makes_no_second_scan(
        keyword_app, client, alice):
    _, headers = alice
    key = new_key()
    first = client.post(SCANS, json={"text": TEXT}, headers=keyed(headers, key))
    assert first.status_code == 201, first.get_json()
    again = client.post(SCANS, json={"text": TEXT}, headers=keyed(headers, key))
    assert_replayed(first, again)
    assert scan_total(client, headers) == 1
    [row] = key_rows(keyword_app)
    assert row.status == 201


def test_a_quoted_key_is_the_same_key_and_keys_differ_in_case(keyword_app, client, alice):
    _, headers = alice
    first = client.post(SCANS, json={"text": TEXT}, headers=keyed(headers, "Retry-1"))
    assert first.status_code == 201
    # The sf-string form of the same key (the draft's syntax) replays it.
    assert_replayed(first, client.post(SCANS, json={"text": TEXT},
                                       headers=keyed(headers, '"Retry-1"')))
    # Another case is another key, on MariaDB's case-insensitive collation too.
    other = client.post(SCANS, json={"text": TEXT}, headers=keyed(headers, "retry-1"))
    assert other.status_code == 201 and "Idempotent-Replayed" not in other.headers
    assert other.get_json()["scan_id"] != first.get_json()["scan_id"]
    assert scan_total(client, headers) == 2


def test_a_retried_upload_with_another_boundary_is_replayed(keyword_app, client, alice):
    _, headers = alice
    key = new_key()
    fields = [("force_llm", "false"), ("min_score", "0.5")]
    files = [("file", "plan.txt", b"The vendor may deliver late.\nAll else is fine.\n")]
    body, content_type = multipart("boundary-one-1111", fields, files)
    first = client.post(SCANS, data=body, content_type=content_type,
                        headers=keyed(headers, key))
    assert first.status_code == 201, first.get_json()
    assert first.get_json()["filename"] == "plan.txt"
    body, content_type = multipart("another-boundary-2222", fields[::-1], files)
    again = client.post(SCANS, data=body, content_type=content_type,
                        headers=keyed(headers, key))
    assert_replayed(first, again)
    assert scan_total(client, headers) == 1
    # Another file's content under the same name and key is another request.
    body, content_type = multipart("b3", fields, [("file", "plan.txt", b"Budget risk.\n")])
    assert_problem(client.post(SCANS, data=body, content_type=content_type,
                               headers=keyed(headers, key)), 422, "Idempotency-Key")


def test_a_replay_costs_no_scan_budget(make_app):
    app = make_app(RATE_LIMIT_SCANS="1 per minute")
    app.extensions["riskscan.analyzers"].model = KeywordAnalyzer()
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    key = new_key()
    first = client.post(SCANS, json={"text": TEXT}, headers=keyed(headers, key))
    assert first.status_code == 201
    for _ in range(3):
        assert_replayed(first, client.post(SCANS, json={"text": TEXT},
                                           headers=keyed(headers, key)))
    # New work is limited as before; the 429 is not kept: the key stays free.
    other_key = new_key()
    limited = client.post(SCANS, json={"text": OTHER_TEXT}, headers=keyed(headers, other_key))
    assert_problem(limited, 429)
    assert len(key_rows(app)) == 1


# --- conflicts -----------------------------------------------------------------------------

def test_the_same_key_with_another_request_is_a_422(keyword_app, client, alice):
    _, headers = alice
    key = new_key()
    first = client.post(SCANS, json={"text": TEXT}, headers=keyed(headers, key))
    assert first.status_code == 201
    body = assert_problem(client.post(SCANS, json={"text": OTHER_TEXT},
                                      headers=keyed(headers, key)), 422, "Idempotency-Key")
    assert "different request" in body["detail"]
    # The query string and the path are part of the request too.
    assert_problem(client.post(SCANS + "?x=1", json={"text": TEXT},
                               headers=keyed(headers, key)), 422)
    assert_problem(client.post(JOBS, data={"files": (io.BytesIO(b"x"), "a.txt")},
                               content_type="multipart/form-data",
                               headers=keyed(headers, key)), 422)
    assert scan_total(client, headers) == 1
    # The first answer is still there.
    assert_replayed(first, client.post(SCANS, json={"text": TEXT}, headers=keyed(headers, key)))


def test_keys_are_per_user(keyword_app, client, alice, accounts):
    _, alice_h = alice
    _, bob_h = accounts.user()
    key = new_key()
    by_alice = client.post(SCANS, json={"text": TEXT}, headers=keyed(alice_h, key))
    by_bob = client.post(SCANS, json={"text": OTHER_TEXT}, headers=keyed(bob_h, key))
    assert by_alice.status_code == by_bob.status_code == 201
    assert "Idempotent-Replayed" not in by_bob.headers
    assert by_alice.get_json()["scan_id"] != by_bob.get_json()["scan_id"]
    assert scan_total(client, alice_h) == scan_total(client, bob_h) == 1


class SlowAnalyzer(KeywordAnalyzer):
    """The keyword analyzer, held in analyze() until the test lets it go."""

    def __init__(self):
        self.started = threading.Event()
        self.release = threading.Event()

    def analyze(self, text, **options):
        self.started.set()
        assert self.release.wait(30)
        return super().analyze(text, **options)


def test_two_requests_at_once_with_one_key_make_one_scan(keyword_app, alice, monkeypatch):
    _, headers = alice
    analyzer = SlowAnalyzer()
    monkeypatch.setattr(keyword_app.extensions["riskscan.analyzers"], "model", analyzer)
    key = new_key()
    barrier = threading.Barrier(2, timeout=30)  # a hang guard, as the waits below
    answers = {}
    answered = threading.Event()

    def send(name):
        client = keyword_app.test_client()  # a client, and an app context, per thread
        barrier.wait()
        answers[name] = client.post(SCANS, json={"text": TEXT}, headers=keyed(headers, key))
        answered.set()

    threads = {name: threading.Thread(target=send, args=(name,)) for name in ("a", "b")}
    for thread in threads.values():
        thread.start()
    # One request holds the key inside the analyzer; the other is answered meanwhile.
    assert analyzer.started.wait(30)
    assert answered.wait(30), "the second request waited for the first instead of a 409"
    assert len(answers) == 1
    analyzer.release.set()
    for thread in threads.values():
        thread.join(30)
    statuses = sorted(answer.status_code for answer in answers.values())
    assert statuses == [201, 409], statuses
    busy = next(answer for answer in answers.values() if answer.status_code == 409)
    assert_problem(busy, 409)
    assert busy.headers["Retry-After"] == "1"
    client = keyword_app.test_client()
    assert scan_total(client, headers) == 1
    # Once it is answered, the retry gets that answer.
    done = next(answer for answer in answers.values() if answer.status_code == 201)
    assert_replayed(done, client.post(SCANS, json={"text": TEXT}, headers=keyed(headers, key)))


def test_a_claim_left_unanswered_is_taken_over_after_it_is_abandoned(keyword_app, client,
                                                                    alice):
    _, headers = alice
    key = new_key()
    first = client.post(SCANS, json={"text": TEXT}, headers=keyed(headers, key))
    assert first.status_code == 201

    def unanswered(age: timedelta):
        with keyword_app.app_context():
            db.session.execute(update(IdempotencyKey).values(
                status=None, body=None, created_at=datetime.now(UTC) - age))
            db.session.commit()
            db.session.remove()

    unanswered(timedelta(minutes=1))  # still being answered, as far as anyone knows
    assert_problem(client.post(SCANS, json={"text": TEXT}, headers=keyed(headers, key)), 409)
    unanswered(timedelta(minutes=11))  # its process died mid-request
    again = client.post(SCANS, json={"text": TEXT}, headers=keyed(headers, key))
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
    assert scan_total(client, headers) == 2


# --- failures ------------------------------------------------------------------------------

def test_a_failed_request_leaves_no_key_and_its_retry_does_the_work(keyword_app, client,
                                                                    alice, monkeypatch):
    _, headers = alice
    key = new_key()
    analyzer = keyword_app.extensions["riskscan.analyzers"].model

    def fail(text, **_options):
        raise RuntimeError("boom")

    monkeypatch.setattr(analyzer, "analyze", fail)
    assert_problem(client.post(SCANS, json={"text": TEXT}, headers=keyed(headers, key)), 500)
    assert key_rows(keyword_app) == []
    monkeypatch.undo()
    monkeypatch.setattr(keyword_app.extensions["riskscan.analyzers"], "model", analyzer)
    retried = client.post(SCANS, json={"text": TEXT}, headers=keyed(headers, key))
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    assert scan_total(client, headers) == 1


def test_errors_of_the_request_are_not_kept(keyword_app, client, alice):
    _, headers = alice
    key = new_key()
    for _ in range(2):
        response = client.post(SCANS, json={"text": "   "}, headers=keyed(headers, key))
        assert_problem(response, 422)
        assert "Idempotent-Replayed" not in response.headers
    assert key_rows(keyword_app) == []
    # So the key is free for the corrected request.
    assert client.post(SCANS, json={"text": TEXT}, headers=keyed(headers, key)).status_code == 201


# --- expiry --------------------------------------------------------------------------------

def test_after_24_hours_a_key_is_new_again_and_old_keys_are_swept(keyword_app, client):
    accounts = Accounts(keyword_app, client)
    key = new_key()
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        user, headers = accounts.user()
        first = client.post(SCANS, json={"text": TEXT}, headers=keyed(headers, key))
        assert first.status_code == 201
        assert client.post(SCANS, json={"text": OTHER_TEXT},
                           headers=keyed(headers, new_key())).status_code == 201
        clock.shift(timedelta(hours=23, minutes=59))
        headers = {"Authorization": f"Bearer {accounts.login(user['email'])['access_token']}"}
        assert_replayed(first, client.post(SCANS, json={"text": TEXT},
                                           headers=keyed(headers, key)))
        clock.shift(timedelta(minutes=2))
        headers = {"Authorization": f"Bearer {accounts.login(user['email'])['access_token']}"}
        again = client.post(SCANS, json={"text": TEXT}, headers=keyed(headers, key))
        assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers
        assert again.get_json()["scan_id"] != first.get_json()["scan_id"]
        assert scan_total(client, headers) == 3
        # The other expired key goes in the next sweep; the fresh one stays.
        assert len(key_rows(keyword_app)) == 2
        with keyword_app.app_context():
            assert idempotency.sweep() == 1
            db.session.remove()
        [row] = key_rows(keyword_app)
        assert row.status == 201


# --- malformed keys ------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["", "   ", "a" * 256, "two words", "caf\u00e9", '"open',
                                   '"bad \\escape"', '"a", "b"', '""'])
def test_a_malformed_key_is_a_400_naming_the_header(keyword_app, client, alice, value):
    _, headers = alice
    response = client.post(SCANS, json={"text": TEXT}, headers=keyed(headers, value))
    body = assert_problem(response, 400, "Idempotency-Key")
    assert "Idempotency-Key" in body["detail"]
    assert count_rows(keyword_app, Scan) == 0


def test_the_longest_key_and_a_quoted_key_with_spaces_are_accepted(keyword_app, client, alice):
    _, headers = alice
    for key in ("k" * 255, '"a key with \\"quotes\\" and spaces"'):
        assert client.post(SCANS, json={"text": TEXT},
                           headers=keyed(headers, key)).status_code == 201
    assert [row.status for row in key_rows(keyword_app)] == [201, 201]


# --- jobs ----------------------------------------------------------------------------------

def test_a_retried_job_gets_the_first_202_and_makes_one_job(keyword_app, client, alice):
    _, headers = alice
    key = new_key()

    def send():  # the test client picks a new boundary each time
        # One document: the pool's two workers need not race on the job's row.
        return client.post(JOBS, headers=keyed(headers, key), content_type="multipart/form-data",
                           data={"files": [(io.BytesIO(b"The budget may overrun.\n"), "a.txt")]})

    first = send()
    assert first.status_code == 202, first.get_json()
    assert first.headers["Location"].endswith(first.get_json()["job_id"])
    again = send()
    assert_replayed(first, again)
    assert count_rows(keyword_app, Job) == 1
    # Let the pool finish the job before the tables are emptied.
    job = wait_for(client, headers, first.get_json()["job_id"])
    assert job["status"] == "done", job


# --- the spec ------------------------------------------------------------------------------

def test_the_spec_describes_the_header_on_both_operations(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    for path in (SCANS, JOBS):
        operation = paths[path]["post"]
        assert "Idempotency-Key" in operation["description"]
        assert "409" in operation["responses"]
    assert "Idempotency-Key" not in paths[SCANS]["get"].get("description", "")


def test_a_deleted_scan_leaves_no_kept_answer_quoting_it(keyword_app, client, alice):
    """A kept answer quotes the scan's findings: deleting the scan deletes it too
    (docs/security.md), so a retry after the delete is a new request, not the old text."""
    _, headers = alice
    key = new_key()
    first = client.post(SCANS, json={"text": TEXT}, headers=keyed(headers, key))
    assert first.status_code == 201
    other = client.post(SCANS, json={"text": OTHER_TEXT}, headers=keyed(headers, new_key()))
    assert other.status_code == 201
    assert count_rows(keyword_app, IdempotencyKey) == 2
    assert client.delete(f"{SCANS}/{first.get_json()['scan_id']}",
                         headers=headers).status_code == 204
    with keyword_app.app_context():
        kept = db.session.scalars(select(IdempotencyKey)).all()
        assert len(kept) == 1 and other.get_json()["scan_id"].encode() in kept[0].body
    again = client.post(SCANS, json={"text": TEXT}, headers=keyed(headers, key))
    assert again.status_code == 201
    assert again.get_json()["scan_id"] != first.get_json()["scan_id"]
