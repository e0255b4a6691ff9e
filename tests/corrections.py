"""What the tests of corrections and their review share (/api/v1/corrections): a models root
whose base is a copy of the test model, a scan, and a finding corrected or a missed risk
added as a client does."""

from __future__ import annotations

import shutil
from pathlib import Path

REVIEW = "/api/v1/corrections"


NEUTRAL = ("The team met on Tuesday.", "Lunch was at noon.", "The weather was nice.")


TEXT = ("# Risks\nThe supplier may deliver the servers three weeks late. The team met on "
        "Tuesday. Our only database administrator leaves in June and nobody else knows "
        "the backups. The budget may be cut again next quarter. Lunch was at noon. The "
        "weather was nice.")


def base_models_root(folder: Path, model: Path) -> Path:
    """``folder``/models: ``base``, the test model (copied, never linked: tests write
    cards here), named by ``current``."""
    models = folder / "models"
    models.mkdir()
    shutil.copytree(model, models / "base", ignore=shutil.ignore_patterns("model.safetensors"))
    (models / "current").write_text("base\n")
    return models


def scan(client, headers) -> dict:
    response = client.post("/api/v1/scans", headers=headers, json={"text": TEXT})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["data"], "the test model finds no risk in TEXT"
    return body


def correct(client, headers, scanned, finding, label):
    response = client.patch(f"/api/v1/scans/{scanned['scan_id']}/findings/{finding['id']}",
                            headers=headers, json={"category": label})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def missed(scanned) -> str:
    """A sentence of TEXT the test model did not report: one a person may add."""
    reported = {finding["risk"] for finding in scanned["data"]}
    return next(sentence for sentence in NEUTRAL if sentence not in reported)


def add(client, headers, scanned, label="resource"):
    sentence = missed(scanned)
    start = TEXT.index(sentence)
    response = client.post(f"/api/v1/scans/{scanned['scan_id']}/findings", headers=headers,
                           json={"start": start, "end": start + len(sentence),
                                 "category": label})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# What a training from corrections learns from (tests/test_trainings.py).
TRAINING_TEXT = ("# Risks\nThe supplier may deliver the servers three weeks late. The team met on "
                 "Tuesday. Our only database administrator leaves in June and nobody else knows "
                 "the backups. Lunch was at noon. The weather was nice.")
ADDED = "Our only database administrator leaves in June and nobody else knows the backups."


def correct_and_add(client, headers) -> None:
    """One correction of the model's finding and one risk a person added (a sentence the
    model did not report)."""
    scan = client.post("/api/v1/scans", headers=headers, json={"text": TRAINING_TEXT}).get_json()
    assert scan["data"], scan
    first = scan["data"][0]
    label = "legal" if first["category"] != "legal" else "budget"
    moved = client.patch(f"/api/v1/scans/{scan['scan_id']}/findings/{first['id']}",
                         headers=headers, json={"category": label})
    assert moved.status_code == 200, moved.get_json()
    reported = {f["risk"] for f in scan["data"]}
    missed = next(s for s in (ADDED, "The team met on Tuesday.", "Lunch was at noon.",
                                 "The weather was nice.") if s not in reported)
    start = TRAINING_TEXT.index(missed)
    added = client.post(f"/api/v1/scans/{scan['scan_id']}/findings", headers=headers,
                        json={"start": start, "end": start + len(missed),
                              "category": "resource"})
    assert added.status_code == 201, added.get_json()


class Inert:
    """A job engine that hears of trainings and runs none (the app's ``riskscan.jobs``):
    a test runs them itself, or never."""

    def __init__(self):
        self.trained: list[str] = []

    def train(self, training_id):
        self.trained.append(training_id)


def decide_all(client, headers, contributor: str, decision: str, *, label: str | None = None):
    """A reviewer's "accept all" or "reject all" of a contributor's pending corrections, as
    the console sends it: bound to the newest correction the contributors list showed."""
    people = client.get(f"{REVIEW}/contributors", headers=headers).get_json()["items"]
    newest = next((person["newest_at"] for person in people
                   if person["user_id"] == contributor), "2000-01-01T00:00:00+00:00")
    body = {"decision": decision, "contributor": contributor, "as_of": newest}
    if label is not None:
        body["label"] = label
    return client.post(f"{REVIEW}/review", headers=headers, json=body)


def decide_ids(client, headers, ids: list[int], decision: str):
    """A reviewer's decision on corrections by id, each bound to the label listed for it."""
    shown = {}
    for state in ("pending", "accepted", "rejected"):
        listing = client.get(REVIEW, headers=headers,
                             query_string={"review": state, "per_page": 100}).get_json()
        shown.update({item["finding_id"]: item["label"] for item in listing["items"]})
    return client.post(f"{REVIEW}/review", headers=headers, json={
        "decision": decision, "findings": [{"id": i, "label": shown[i]} for i in ids]})
