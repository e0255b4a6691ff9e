"""Projects, members and the risk register."""

from __future__ import annotations

from flask import render_template

from service.console.blueprint import console
from service.console.pages import data_or_fail
from service.console.session import api, signed_in


@console.get("/projects")
@signed_in
def projects():
    listing = data_or_fail(api("GET", "/projects", query={"per_page": 100}))
    return render_template("console/projects.html", projects=listing)


@console.get("/projects/<project_id>")
@signed_in
def project(project_id: str):
    details = data_or_fail(api("GET", f"/projects/{project_id}"))
    return render_template("console/project.html", project=details)


@console.get("/projects/<project_id>/risks/<int:risk_id>")
@signed_in
def project_risk(project_id: str, risk_id: int):
    risk = data_or_fail(api("GET", f"/projects/{project_id}/risks/{risk_id}"))
    return render_template("console/risk.html", project_id=project_id, risk=risk)
