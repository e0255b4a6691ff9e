"""The link every message to a risk's owner carries (issue #87 item 4): its page asks, its
form stops that kind of message, through the API's own route (/api/v1/notices/off), with no
sign-in; the API reads the link's token and says which kind it stopped. A mail client's
one-click "unsubscribe" (RFC 8058: a POST of ``List-Unsubscribe=One-Click`` to the same
address, with no session and no form token) stops it too: the link's signed token is what
authorizes it (web.protect_forms)."""

from __future__ import annotations

from flask import render_template, request

from service.console.blueprint import console
from service.console.client import call
from service.console.pages import words

NO_STORE = {"Cache-Control": "no-store"}  # a page whose address holds the link's token
ONE_CLICK = ("List-Unsubscribe", "One-Click")


def one_click() -> bool:
    """Whether this request is a mail client's one-click unsubscribe (RFC 8058)."""
    return request.method == "POST" and request.form.get(ONE_CLICK[0]) == ONE_CLICK[1]


@console.route("/mail/off/<token>", methods=["GET", "POST"])
def mail_off_page(token: str):
    if request.method == "GET":
        return render_template("console/mail_off.html"), 200, NO_STORE
    answer = call("POST", "/notices/off", token=None, json={"token": token})
    if not answer.ok:
        return render_template("console/mail_off.html", error=words(answer)), \
            answer.status, NO_STORE
    return render_template("console/mail_off.html", said=answer.json["detail"]), 200, NO_STORE
