"""A deleted report's text leaves the register (issue #86, item 1): the register keeps
its history, and loses the deleted sentences and title. An entry only the deleted report
stated is withdrawn with a neutral wording; one other reports state keeps a remaining
report's wording; every event keeps when, who and what kind, with the deleted report's
sentences replaced by the same neutral wording, and no note names its title."""

from __future__ import annotations

import io

from openpyxl import load_workbook

from tests.console_browser import Browser
from tests.projects import register_of, scan_into
from tests.register_reports import WEEK_1, WEEK_2

DELETED_WORDING = "A finding of a deleted report."  # the register's words
TITLE = "Nightjar takeover memo"
SECRET = "The vendor of Project Nightjar has agreed to sell us its badge division in March."
MEMO = f"{TITLE}\n{WEEK_2} {SECRET}"
SENTENCES = [TITLE, "Nightjar", SECRET, *(s.strip() + "." for s in WEEK_2.split(".")
                                         if s.strip())]


def _reads(client, team, browser, entry_ids) -> dict[str, str]:
    """Everything a viewer reads of the project's register, by what it is."""
    h, base = team.viewer_h, f"/api/v1/projects/{team.id}"
    reads = {"risks": client.get(f"{base}/risks", headers=h).get_data(as_text=True),
             "changes": client.get(f"{base}/changes", headers=h).get_data(as_text=True),
             "csv": client.get(f"{base}/risks/export", query_string={"format": "csv"},
                               headers=h).get_data(as_text=True),
             "register page": browser.page(f"/app/projects/{team.id}"),
             "changes page": browser.page(f"/app/projects/{team.id}/changes")}
    sheet = client.get(f"{base}/risks/export", query_string={"format": "xlsx"}, headers=h)
    assert sheet.status_code == 200
    workbook = load_workbook(io.BytesIO(sheet.data))
    reads["xlsx"] = "\n".join(str(cell) for ws in workbook.worksheets
                              for row in ws.iter_rows(values_only=True) for cell in row)
    for entry_id in entry_ids:
        url = f"{base}/risks/{entry_id}"
        reads[f"entry {entry_id}"] = client.get(url, headers=h).get_data(as_text=True)
        reads[f"history {entry_id}"] = client.get(f"{url}/history", query_string={
            "per_page": 100}, headers=h).get_data(as_text=True)
        reads[f"page {entry_id}"] = browser.page(f"/app/projects/{team.id}/risks/{entry_id}")
    return reads


def test_a_deleted_reports_text_is_in_no_read_of_the_register_and_its_history_stays(
        team, client, keyword_app):
    first = scan_into(client, team.owner_h, team.id, WEEK_1, reported_on="2026-11-02")
    memo = scan_into(client, team.editor_h, team.id, MEMO, reported_on="2026-11-09")
    entries = {e["id"]: e for e in register_of(client, team.owner_h, team.id)}
    assert len(entries) == 3, [e["risk"] for e in entries.values()]
    secret = next(e for e in entries.values() if e["risk"] == SECRET)
    browser = Browser(keyword_app, team.viewer["email"])
    before = _reads(client, team, browser, entries)
    assert SECRET in before[f"history {secret['id']}"]

    assert client.delete(f"/api/v1/scans/{memo['scan_id']}",
                         headers=team.editor_h).status_code == 204

    reads = _reads(client, team, browser, entries)
    for what, text in reads.items():
        for sentence in SENTENCES:
            assert sentence not in text, (what, sentence)
    h = team.viewer_h
    gone = client.get(f"/api/v1/projects/{team.id}/risks/{secret['id']}", headers=h).get_json()
    assert (gone["occurrences"], gone["risk"]) == (0, DELETED_WORDING)
    for entry in register_of(client, h, team.id):  # the others: the first report's wording
        assert entry["risk"] in WEEK_1 and entry["occurrences"] == 1
        assert [f["scan_id"] for f in entry["findings"]] == [first["scan_id"]]
    # The history still says what happened, when and by whom.
    events = client.get(f"/api/v1/projects/{team.id}/risks/{secret['id']}/history",
                        headers=h).get_json()["items"]
    assert [(e["kind"], e["cause"]) for e in events] == [("unstated", "deletion"),
                                                          ("opened", "report")]
    unstated, opened = events
    assert opened["actor_id"] == team.editor["id"] and opened["scan_id"] == memo["scan_id"]
    assert opened["changes"]["risk"] == {"from": None, "to": DELETED_WORDING}
    assert unstated["actor_id"] == team.editor["id"]
    assert "was deleted" in unstated["note"]


def test_a_sentence_another_report_still_states_stays(team, client, keyword_app):
    """The same sentence in a report that stays is that report's text: it is kept."""
    scan_into(client, team.owner_h, team.id, SECRET, reported_on="2026-11-02")
    memo = scan_into(client, team.editor_h, team.id, f"{TITLE}\n{SECRET}",
                     reported_on="2026-11-09")
    (entry,) = register_of(client, team.owner_h, team.id)
    assert client.delete(f"/api/v1/scans/{memo['scan_id']}",
                         headers=team.editor_h).status_code == 204
    (kept,) = register_of(client, team.viewer_h, team.id)
    assert (kept["id"], kept["risk"], kept["occurrences"]) == (entry["id"], SECRET, 1)
    history = client.get(f"/api/v1/projects/{team.id}/risks/{entry['id']}/history",
                         headers=team.viewer_h).get_json()["items"]
    assert history[-1]["changes"]["risk"]["to"] == SECRET
    assert TITLE not in str(history)


def test_deleting_an_account_forgets_its_reports_text(team, client, keyword_app):
    memo = scan_into(client, team.editor_h, team.id, f"{TITLE}\n{SECRET}")
    (entry,) = register_of(client, team.owner_h, team.id)
    assert client.delete(f"/api/v1/users/{team.editor['id']}",
                         headers=team.admin_h).status_code == 204
    url = f"/api/v1/projects/{team.id}/risks/{entry['id']}"
    body = client.get(url, headers=team.viewer_h).get_json()
    assert (body["risk"], body["occurrences"]) == (DELETED_WORDING, 0)
    history = client.get(f"{url}/history", headers=team.viewer_h).get_data(as_text=True)
    assert SECRET not in history and TITLE not in history
    assert memo["scan_id"] in history  # which report: an id, not its words


def test_a_report_moved_out_and_then_deleted_is_forgotten_too(team, client, keyword_app):
    """Moved out, the report still is (its words stay); deleted afterwards, outside the
    project, they leave the register it was in."""
    memo = scan_into(client, team.editor_h, team.id, f"{TITLE}\n{SECRET}")
    (entry,) = register_of(client, team.owner_h, team.id)
    assert client.patch(f"/api/v1/scans/{memo['scan_id']}", json={"project_id": None},
                        headers=team.editor_h).status_code == 200
    url = f"/api/v1/projects/{team.id}/risks/{entry['id']}"
    assert client.get(url, headers=team.viewer_h).get_json()["risk"] == SECRET

    assert client.delete(f"/api/v1/scans/{memo['scan_id']}",
                         headers=team.editor_h).status_code == 204
    body = client.get(url, headers=team.viewer_h).get_json()
    assert (body["risk"], body["occurrences"]) == (DELETED_WORDING, 0)
    history = client.get(f"{url}/history", headers=team.viewer_h).get_data(as_text=True)
    assert SECRET not in history and TITLE not in history
