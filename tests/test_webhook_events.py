"""Every way a risk enters a project's register sends its webhook event, not only a scan
posted into the project: a scan moved in, a finding's category corrected, a dismissal
restored (the findings it kept out join), and a batch job's documents. Each is checked at a
real receiver on loopback, signed, with the entry the register holds."""

from __future__ import annotations

import io
import json

from tests import webhooks
from tests.dismissals import BOILERPLATE, LICENCES, REWORDED, dismiss, dismissals_of
from tests.projects import register_of, scan_into
from tests.webhooks import create, drain, settled, verify

make_hooks_app, hooks_app, hooks = webhooks.make_hooks_app, webhooks.hooks_app, webhooks.hooks
receiver = webhooks.receiver


def created(team, receiver, webhook) -> dict:
    """The one delivery that arrived: verified, and its body."""
    [request] = drain(receiver)
    assert verify(webhook["secret"], request)
    body = json.loads(request.body)
    assert (body["type"], body["data"]["project_id"]) == ("risk.created", team.id)
    return body["data"]


def entry_of(team, risk) -> dict:
    return next(e for e in register_of(team.client, team.owner_h, team.id) if e["risk"] == risk)


def test_a_scan_moved_into_the_project_sends_its_risks(hooks_app, hooks, receiver):
    webhook = create(hooks, f"{receiver.url}/hook", events=["risk.created"])
    scan = hooks.client.post("/api/v1/scans", headers=hooks.editor_h,
                             json={"text": "The budget is overrun."}).get_json()
    settled(hooks_app)
    assert receiver.nothing_more()  # in no project: no register, no event
    moved = hooks.client.patch(f"/api/v1/scans/{scan['scan_id']}", headers=hooks.editor_h,
                               json={"project_id": hooks.id})
    assert moved.status_code == 200, moved.get_json()
    settled(hooks_app)
    data = created(hooks, receiver, webhook)
    assert (data["scan_id"], data["risk"]["id"], data["risk"]["category"]) == (
        scan["scan_id"], entry_of(hooks, "The budget is overrun.")["id"], "budget")


def test_a_corrected_category_sends_the_entry_it_moves(hooks_app, hooks, receiver):
    scan = scan_into(hooks.client, hooks.editor_h, hooks.id, "The vendor may slip.")
    entry = entry_of(hooks, "The vendor may slip.")
    webhook = create(hooks, f"{receiver.url}/hook", events=["risk.moved"],
                     categories=["budget"])
    [finding] = scan["data"]
    corrected = hooks.client.patch(f"/api/v1/scans/{scan['scan_id']}/findings/{finding['id']}",
                                   headers=hooks.editor_h, json={"category": "budget"})
    assert corrected.status_code == 200, corrected.get_json()
    settled(hooks_app)
    request = receiver.next()
    assert verify(webhook["secret"], request)
    body = json.loads(request.body)
    assert body["type"] == "risk.moved"
    data = body["data"]
    assert (data["scan_id"], data["risk"]["id"], data["risk"]["category"], data["from"],
            data["to"]) == (scan["scan_id"], entry["id"], "budget", "vendor", "budget")


def test_a_restored_dismissal_sends_the_risks_it_kept_out(hooks_app, hooks, receiver):
    client = hooks.client
    first = scan_into(client, hooks.owner_h, hooks.id, f"{BOILERPLATE} {LICENCES}")
    dismiss(client, hooks.owner_h, first, BOILERPLATE)
    webhook = create(hooks, f"{receiver.url}/hook", events=["risk.created"])
    second = scan_into(client, hooks.owner_h, hooks.id, REWORDED)  # kept out: no event
    settled(hooks_app)
    assert receiver.nothing_more()
    [dismissal] = dismissals_of(client, hooks.owner_h, hooks.id)
    restored = client.delete(f"/api/v1/projects/{hooks.id}/dismissals/{dismissal['id']}",
                             headers=hooks.editor_h)
    assert restored.status_code == 204, restored.get_json()
    settled(hooks_app)
    data = created(hooks, receiver, webhook)
    assert (data["scan_id"], data["risk"]["id"], data["risk"]["risk"]) == (
        second["scan_id"], entry_of(hooks, REWORDED)["id"], REWORDED)


def test_a_jobs_documents_send_their_risks(hooks_app, hooks, receiver):
    webhook = create(hooks, f"{receiver.url}/hook", events=["risk.created"])
    files = [(io.BytesIO(b"The vendor may slip the delivery."), "week-1.txt"),
             (io.BytesIO(b"The budget is overrun by a fifth."), "week-2.txt")]
    response = hooks.client.post("/api/v1/jobs", headers=hooks.editor_h,
                                 content_type="multipart/form-data",
                                 data={"files": files, "project_id": hooks.id})
    assert response.status_code == 202, response.get_json()
    first, second = receiver.next(), receiver.next()  # sent from the job's threads
    settled(hooks_app)
    job = hooks.client.get(f"/api/v1/jobs/{response.get_json()['job_id']}",
                           headers=hooks.editor_h).get_json()
    scans = {document["scan_id"] for document in job["documents"]}
    sent = [json.loads(request.body)["data"] for request in (first, second)]
    assert {data["scan_id"] for data in sent} == scans and len(scans) == 2
    entries = {e["id"]: e["category"] for e in register_of(hooks.client, hooks.owner_h,
                                                           hooks.id)}
    assert {data["risk"]["id"]: data["risk"]["category"] for data in sent} == entries
    assert sorted(entries.values()) == ["budget", "vendor"]
    for request in (first, second):
        assert verify(webhook["secret"], request)
