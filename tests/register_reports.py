"""The weekly reports the risk register's tests scan (two weeks stating the same two risks in
other words, a third restating one, other risks of the same categories), the reports' dates
as a job's documents get them, and the one 404 every missing thing of the register answers."""

from __future__ import annotations

from tests.helpers import assert_problem
from tests.jobs import accepted, document_ids, get_job, post_job, run_document
from tests.projects import register_of
from tests.scanning import without_request_id

WEEK_1 = ("The vendor may not deliver the database licences before the cut-over. "
          "The budget for external testers is overrun by 40 percent.")
# The same two risks, reworded as next week's report would state them.
WEEK_2 = ("The licences from the vendor are still not delivered and could miss the cut-over. "
          "Spending on outside testers has blown through the budget by almost half.")
# Different risks of the same categories.
OTHER = ("The vendor of the badge readers has gone into administration. "
         "The budget for the training rooms was cut by the finance committee.")


def headers_of(response) -> dict:
    return {name: value for name, value in response.headers.items()
            if name.lower() not in ("x-request-id", "content-length")}


def same_404(response, missing) -> None:
    """``response`` is the 404 problem ``missing`` is, byte for byte but its request id."""
    assert_problem(response, 404)
    assert headers_of(response) == headers_of(missing)
    assert without_request_id(response) == without_request_id(missing)


WEEK_3 = ("The database licences have still not arrived from the vendor. "
          "The password vault has no second administrator.")


def risks_by_category(client, team) -> dict[str, dict]:
    entries = register_of(client, team.owner_h, team.id)
    assert len({e["category"] for e in entries}) == len(entries), entries
    return {entry["category"]: entry for entry in entries}


def job_dates(app, client, team, files, **form) -> dict[str, str]:
    """{filename: reported_on} of the scans a job's documents became."""
    job_id = accepted(post_job(client, team.editor_h, files, project_id=team.id, **form),
                      total=len(files))
    for document_id in document_ids(app, job_id):
        assert run_document(app, document_id) == "done"
    job = get_job(client, team.editor_h, job_id)
    dates = {}
    for document in job["documents"]:
        scan = client.get(f"/api/v1/scans/{document['scan_id']}",
                          headers=team.editor_h).get_json()
        assert document["reported_on"] == scan["reported_on"]
        dates[document["filename"]] = scan["reported_on"]
    return dates
