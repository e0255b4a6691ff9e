"""What the dismissals' tests share (a finding marked not a risk, and what it keeps out): two
weekly reports whose boilerplate is restated in other words, a dismissal and its list as a
client makes and reads them, and the audit events."""

from __future__ import annotations

# Boilerplate the stand-in flags (it says "vendor"), and a real vendor risk beside it.
BOILERPLATE = "All vendor invoices are processed through the finance portal."


LICENCES = "The vendor may not deliver the database licences before the cut-over."


WEEK_1 = f"{BOILERPLATE} {LICENCES}"


# Next week: the boilerplate in other words (cosine 0.85), and a different vendor risk
# (0.21 and 0.30 to the two above).
REWORDED = "Invoices from every vendor are still handled via the finance portal."


BADGES = "The vendor of the badge readers has gone into administration."


WEEK_2 = f"{REWORDED} {BADGES}"


def dismiss(client, headers, scan, risk, status=200, scope="later"):
    """``risk`` of ``scan`` corrected to none, "this report and later ones" unless
    ``scope`` says otherwise (None: left out, the API's default)."""
    finding = next(f for f in scan["data"] if f["risk"] == risk)
    body = {"category": "none"} if scope is None else {"category": "none", "scope": scope}
    response = client.patch(f"/api/v1/scans/{scan['scan_id']}/findings/{finding['id']}",
                            json=body, headers=headers)
    assert response.status_code == status, response.get_json()
    return response


def dismissals_of(client, headers, project_id) -> list[dict]:
    response = client.get(f"/api/v1/projects/{project_id}/dismissals",
                          query_string={"per_page": 100}, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


