"""What the findings' tests share (GET /api/v1/findings, corrections): an analyzer whose scores
are known (each sentence's by a keyword it holds), a scan of its text, the findings listed
and corrected as a client would; a project team whose members' scans have known scores."""

from __future__ import annotations

import re

import pytest

from service.analysis.base import Analysis, Finding
from tests.projects import Team

# Sentence keyword -> (category, score): known findings with known scores.
SCORES = {"budget": ("budget", 0.3), "vendor": ("vendor", 0.55), "slip": ("schedule", 0.8),
          "password": ("security", 0.95)}


TEXT = ("The budget is short. The vendor is late. The launch may slip. "
        "The password is shared. Lunch was fine.")


class ScoredAnalyzer:
    """The model's stand-in: a sentence with a keyword is a finding of its category, with
    that keyword's score, so that the tests know which findings are doubtful."""

    source = "model"
    version = "scored-test"

    def analyze(self, text: str, *, min_score: float | None = None) -> Analysis:
        findings = []
        for match in re.finditer(r"[^.!?\n]+[.!?]?", text):
            sentence = match.group().strip()
            if not sentence:
                continue
            start = match.start() + match.group().index(sentence[0])
            for word, (category, score) in SCORES.items():
                if word in sentence.lower():
                    findings.append(Finding(risk=sentence, category=category, context=sentence,
                                            score=score, start=start, end=start + len(sentence)))
                    break
        return Analysis(findings)


@pytest.fixture
def scored_app(app, monkeypatch):
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", ScoredAnalyzer())
    return app


def scan(client, headers, text=TEXT, **fields) -> dict:
    response = client.post("/api/v1/scans", json={"text": text, **fields}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def listed(client, headers, **args) -> dict:
    response = client.get("/api/v1/findings", query_string=args, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def risks(body) -> list[str]:
    return [item["risk"] for item in body["items"]]


def correct(client, headers, scan_id, finding_id, category):
    response = client.patch(f"/api/v1/scans/{scan_id}/findings/{finding_id}",
                            json={"category": category}, headers=headers)
    assert response.status_code == 200, response.get_json()


def export(app, out, *args) -> bytes:
    result = app.test_cli_runner().invoke(args=["export-corrections", "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return out.read_bytes()


OWNERS = "The budget is short."  # score 0.3


EDITORS = "The vendor is late."  # 0.55


VIEWERS = "The launch may slip."  # 0.8


PRIVATE = "The password is shared."  # 0.95: the editor's own scan, in no project


OUTSIDERS = "The budget of the other team is short."


def scanned_team(app, client, monkeypatch) -> Team:
    """A project with a scan by its owner, its editor and its viewer (scanned while an
    editor, then made a viewer), the editor's scan outside it, and an outsider's."""
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", ScoredAnalyzer())
    team = Team(app, client)
    set_role(team, team.viewer, "editor")
    team.scans = {
        "owner": scan(client, team.owner_h, OWNERS, project_id=team.id),
        "editor": scan(client, team.editor_h, EDITORS, project_id=team.id),
        "viewer": scan(client, team.viewer_h, VIEWERS, project_id=team.id),
        "private": scan(client, team.editor_h, PRIVATE),
        "outsider": scan(client, team.outsider_h, OUTSIDERS),
    }
    set_role(team, team.viewer, "viewer")
    return team


def set_role(team, user, role):
    answer = team.client.patch(f"/api/v1/projects/{team.id}/members/{user['id']}",
                               json={"role": role}, headers=team.owner_h)
    assert answer.status_code == 200, answer.get_json()
