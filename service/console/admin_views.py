"""Review (the model's doubtful and corrected findings) and administration."""

from __future__ import annotations

from flask import render_template

from service.console.blueprint import console
from service.console.pages import data_or_fail
from service.console.session import api, current_user, signed_in


@console.get("/review")
@signed_in
def review():
    return render_template("console/review.html")


@console.get("/admin/users")
@signed_in
def admin_users():
    listing = data_or_fail(api("GET", "/users", query={"per_page": 100}))
    return render_template("console/admin_users.html", users=listing, me=current_user())
