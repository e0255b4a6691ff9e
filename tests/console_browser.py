"""What a test needs to drive the console as a browser through Flask's test client: the
CSRF token of a page's form, signing in through the form, a page's HTML, its forms as a
browser would send them, its flashes and error pages, and the redirect targets no form may
send a browser to. Shared by the console's test modules (never imported from one of them)."""

from __future__ import annotations

import html as html_text
import re
from html.parser import HTMLParser

from tests.helpers import PASSWORD

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


REFUSED_FORM = ("This form was not sent from a page of this console, or it expired. Go back, "
                "reload the page and try again.")


def csrf_of(client, path="/app/scan") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.status_code
    return CSRF.search(page.get_data(as_text=True)).group(1)


def sign_in(client, email, password=PASSWORD, **query):
    token = csrf_of(client, "/app/sign-in")
    return client.post("/app/sign-in", query_string=query,
                       data={"email": email, "password": password, "csrf_token": token})


def html(response) -> str:
    assert response.mimetype == "text/html", response.mimetype
    return response.get_data(as_text=True)


# Where no console form may send the browser: another site, a path outside the console, or
# a path with a control character (CR/LF would split the Location header).
UNSAFE_TARGETS = ["https://evil.example/", "//evil.example/app/", "/api/v1/users",
                  "/app\\..\\evil", "javascript:alert(1)", "/app/scans\r\nSet-Cookie: a=b",
                  "/app/scans\n", "/app/scans\r", "/app/\t/evil.example", "/app/scans\x00",
                  "/app/scans\x7f", "/app/scans\x85"]


class Browser:
    """One person's browser on the console: its own cookies, signed in through the form."""

    def __init__(self, app, email: str):
        self.client = app.test_client()
        response = self.post_form("/app/sign-in", "/app/sign-in",
                                  {"email": email, "password": PASSWORD}, follow=False)
        assert response.status_code == 302, response.get_data(as_text=True)

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)

    def page(self, path: str) -> str:
        response = self.client.get(path)
        assert response.status_code == 200, (path, response.status_code,
                                              response.get_data(as_text=True))
        return response.get_data(as_text=True)

    def post_form(self, page: str, action: str, data: dict, *, follow: bool = True):
        """Post ``data`` to ``action`` with the CSRF token of the form on ``page``."""
        token = csrf_token(self.client.get(page).get_data(as_text=True))
        return self.client.post(action, data={**data, "csrf_token": token},
                                follow_redirects=follow)


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no form with a CSRF token on the page"
    return match[1]


def text_of(response) -> str:
    return response.get_data(as_text=True)


def flashes(page: str) -> list[str]:
    block = re.search(r'<div class="flash" role="status">(.*?)</div>', page, re.DOTALL)
    if block is None:
        return []
    return [html_text.unescape(p) for p in re.findall(r"<p>(.*?)</p>", block[1], re.DOTALL)]


def said_in(part: str) -> list[str]:
    """What a part of a page (a row, a form) says beside its controls."""
    return [html_text.unescape(p) for p in re.findall(r'<p class="said" role="status">(.*?)</p>',
                                                 part, re.DOTALL)]


def form_of(page: str, form_id: str) -> str:
    return re.search(rf'<form id="{form_id}".*?</form>', page, re.DOTALL)[0]


def said_at(page: str, element_id: str) -> list[str]:
    """What the element of ``page`` with the id ``element_id`` (a finding's item, a row)
    says beside its controls (pages.flash_at), whatever else its paragraph's class."""
    element = re.search(rf'<(\w+)[^>]* id="{element_id}"[^>]*>.*?</\1>', page, re.DOTALL)
    assert element, f"no element {element_id}"
    return [html_text.unescape(" ".join(said.split())) for said in re.findall(
        r'<p class="said[^"]*" role="status">(.*?)</p>', element[0], re.DOTALL)]


def error_page(response, status: int) -> str:
    """The console's HTML error page with this status (never the API's JSON)."""
    assert response.status_code == status, text_of(response)
    assert response.mimetype == "text/html"
    page = text_of(response)
    assert f"Error {status}" in page
    return page


class Form:
    def __init__(self, attrs: dict):
        self.attrs = attrs
        self.action = attrs.get("action", "")
        self.fields: list[tuple[str, str]] = []
        self.text = ""  # the words of its buttons

    def data(self, **changes) -> dict:
        """The form as the browser would send it, with ``changes`` (None: leave out, as an
        unticked checkbox)."""
        sent = {}
        for name, value in self.fields:
            sent.setdefault(name, value)
        for name, value in changes.items():
            if value is None:
                sent.pop(name, None)
            else:
                sent[name] = value
        return sent


class Forms(HTMLParser):
    """The page's forms with their fields, including controls outside a form that name it
    (``form="id"``), selects at their selected option and only ticked checkboxes."""

    def __init__(self, page: str):
        super().__init__()
        self.forms: list[Form] = []
        self.by_id: dict[str, Form] = {}
        self.owned: list[tuple[str, str, str]] = []  # (form id, name, value)
        self._form = self._select = None
        self._selected = None
        self._button = False
        self.feed(page)
        for form_id, name, value in self.owned:
            self.by_id[form_id].fields.append((name, value))

    def _add(self, attrs, name, value):
        if attrs.get("form"):
            self.owned.append((attrs["form"], name, value))
        elif self._form is not None:
            self._form.fields.append((name, value))

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._form = Form(attrs)
            self.forms.append(self._form)
            if attrs.get("id"):
                self.by_id[attrs["id"]] = self._form
        elif tag == "input" and attrs.get("name"):
            if attrs.get("type") == "checkbox" and "checked" not in attrs:
                return
            self._add(attrs, attrs["name"], attrs.get("value", "on"))
        elif tag == "select":
            self._select, self._selected = attrs, None
        elif tag == "option" and self._select is not None:
            if self._selected is None or "selected" in attrs:
                self._selected = attrs.get("value", "")
        elif tag == "button" and self._form is not None:
            self._button = True

    def handle_data(self, data):
        if self._button and self._form is not None:
            self._form.text += data

    def handle_endtag(self, tag):
        if tag == "select" and self._select is not None:
            if self._select.get("name"):
                self._add(self._select, self._select["name"], self._selected or "")
            self._select = None
        elif tag == "form":
            self._form = None
        elif tag == "button":
            self._button = False


def form(page: str, action: str, button: str | None = None) -> Form:
    """The form of ``page`` that posts to ``action`` (and whose button says ``button``)."""
    found = [f for f in Forms(page).forms if f.action == action
             and (button is None or button in f.text)]
    assert len(found) == 1, (action, button, [(f.action, f.text) for f in Forms(page).forms])
    return found[0]


def main_of(response) -> str:
    """The page's <main>: what it says, without the header's per-request CSRF token."""
    return re.search(r"<main\b.*?</main>", html(response), re.DOTALL).group(0)


def signed_in_client(app, email):
    """A new test client signed in as ``email`` through the sign-in form."""
    client = app.test_client()
    token = CSRF.search(client.get("/app/sign-in").get_data(as_text=True)).group(1)
    response = client.post("/app/sign-in", data={"email": email, "password": PASSWORD,
                                                 "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


WEEK_1 = ("The vendor may not deliver the database licences before the cut-over. "
          "The budget for external testers is overrun by 40 percent.")


# The budget risk stated again (the same words), the vendor's gone, a schedule risk new.
WEEK_2 = ("The budget for external testers is overrun by 40 percent. "
          "The data migration may slip by two weeks.")


def rows_of(page: str) -> dict[int, str]:
    """The register table's rows by entry id."""
    table = re.search(r"<caption>Risk register</caption>(.*?)</table>", page, re.DOTALL)
    assert table, "no register table"
    return {int(i): row for i, row in re.findall(r'<tr id="risk-(\d+)">(.*?)</tr>', table[1],
                                                 re.DOTALL)}


def console_scan(browser: Browser, project_id: str, text: str) -> str:
    """A report scanned into the project through the console's scan form; the result page."""
    response = browser.post_form(f"/app/scan?project_id={project_id}", "/app/scan",
                                 {"text": text, "project_id": project_id})
    assert response.status_code == 200, text_of(response)  # the scan's page, redirected to
    return text_of(response)


def cookie_contents(app, response) -> str:
    """What a made key's redirect puts in the browser's session cookie, decoded as anyone
    holding the cookie can (it is signed, not encrypted)."""
    import base64
    import zlib

    cookie = next(value for value in response.headers.getlist("Set-Cookie")
                  if value.startswith("riskscan_console="))
    payload = cookie.split("=", 1)[1].split(";", 1)[0].split(".")
    compressed = payload[0] == ""
    data = payload[1] if compressed else payload[0]
    raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    return (zlib.decompress(raw) if compressed else raw).decode()
