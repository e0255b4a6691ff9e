"""What the console's end-to-end tests share: the documents they scan, the steps a person
takes in the console (sign in, scan, create a project), and the checks of a page.

The texts were chosen with the test model (tests/fixtures_model.py): each risk sentence is
one it flags with a score above 0.9, each plain one a sentence it leaves alone in this
context. The tests still ask little of the model: the risks they name must be found, not a
particular score.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

PASSWORD = "correct horse battery"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}

CONSOLE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; form-action 'self'; base-uri 'none'; "
               "frame-ancestors 'none'")
CATEGORIES = ("schedule", "budget", "resource", "scope", "technical", "security", "legal",
              "vendor", "quality", "stakeholder")

# A short status report: three clear risks and plain lines. The plain line the tests check
# comes before the risks: the small test model reads each sentence with the one before it,
# and right after a risk it is least sure of a plain line (the shipped model is not).
VENDOR_RISK = ("Our main supplier has warned that the delivery of the servers will be late by "
               "three weeks.")
SCHEDULE_RISK = "The deadline for the data migration is likely to slip into next quarter."
SECURITY_RISK = "A critical security vulnerability in the login service remains unpatched."
PLAIN_LINE = "Minutes were circulated to all attendees."
STATUS_LINES = ("Weekly status report for the billing migration.",
                "The team met on Monday to review progress.", PLAIN_LINE, VENDOR_RISK,
                SCHEDULE_RISK, "The next meeting is scheduled for Thursday.", SECURITY_RISK)
STATUS_REPORT = "\n".join(STATUS_LINES)

# A .docx of risk review notes: two more risks.
RESOURCE_RISK = "Key developers may leave the project before the release."
BUDGET_RISK = "The budget is likely to be exceeded because of unplanned licence costs."
DOCX_PARAGRAPHS = ("Risk review notes.", RESOURCE_RISK,
                   "The workshop took place in the main office.", BUDGET_RISK)

# Two reports of one project: the second states the vendor risk again in other words (it
# persists), drops the schedule risk (gone) and adds the budget risk (new). Not "behind
# schedule": the small test model reads those words as a `schedule` risk, another category,
# which the register never joins (the shipped model reads `vendor` either way).
VENDOR_REWORDED = "The hardware vendor now says the servers will arrive about three weeks late."
REPORT_LINES = (
    ("Status report, week 12.", "The team met on Monday to review progress.", PLAIN_LINE,
     VENDOR_RISK, SCHEDULE_RISK),
    ("Status report, week 13.", "The team met on Monday to review progress.", PLAIN_LINE,
     VENDOR_REWORDED, BUDGET_RISK),
)
PROJECT_REPORTS = tuple("\n".join(lines) for lines in REPORT_LINES)

CSV_HEADER = ("id,risk,category,status,likelihood,impact,score,band,owner,due date,first seen,"
              "last seen,occurrences,notes")


class BrowserErrors:
    """What the watched pages reported as errors: console messages of type ``error`` (a CSP
    violation, a failed script, a resource that failed to load) and uncaught exceptions."""

    def __init__(self):
        self.errors: list[str] = []

    def watch(self, page):
        def on_console(message):
            if message.type == "error":
                where = message.location or {}
                self.errors.append(f"{page.url}: console error: {message.text} "
                                   f"({where.get('url', '')}:{where.get('lineNumber', '')})")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: uncaught: {error}"))
        return page

    def assert_none(self, allowing: tuple[str, ...] = ()):
        """No error reported but those holding one of ``allowing`` (what the test expects
        the browser to log, such as a refused form's status)."""
        errors = [e for e in self.errors if not any(words in e for words in allowing)]
        assert not errors, "the browser reported errors:\n" + "\n".join(errors)


@dataclass
class Screenshots:
    """A run's screenshots (``folder``), also written to ``docs_folder`` when given."""

    folder: Path
    docs_folder: Path | None = None
    taken: list[Path] = field(default_factory=list)

    def take(self, page, name: str, *, top=None) -> Path:
        """The viewport as ``name``.png; ``top``: a locator scrolled to the top first."""
        page.mouse.move(0, 0)
        page.evaluate("() => document.activeElement && document.activeElement.blur()")
        if top is not None:
            top.evaluate("(el) => el.scrollIntoView({block: 'start'})")
        path = self.folder / f"{name}.png"
        page.screenshot(path=str(path), animations="disabled", caret="hide")
        assert path.stat().st_size > 1000
        self.taken.append(path)
        if self.docs_folder is not None:
            self.docs_folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, self.docs_folder / path.name)
        return path


def new_page(browser, base_url: str, errors: BrowserErrors | None = None, *,
             viewport: dict = DESKTOP):
    """A page in a fresh context (its own cookies), watched by ``errors`` when given."""
    context = browser.new_context(base_url=base_url, viewport=viewport, accept_downloads=True,
                                  locale="en-GB", timezone_id="UTC")
    context.set_default_timeout(20_000)
    page = context.new_page()
    if errors is not None:
        errors.watch(page)
    return page


def register(page, email: str, password: str = PASSWORD) -> None:
    """Register through the form: it signs in and lands on the scan page."""
    page.goto("/app/register")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Register", exact=True).click()
    page.wait_for_url(re.compile(r"/app/scan$"))


def sign_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/app/sign-in")
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(re.compile(r"/app/scan$"))


def submit_scan(page, *, text: str | None = None, file: Path | None = None,
                project_id: str | None = None):
    """Fill the scan page (where ``page`` is) and press Scan; the POST's response (a 303 to
    the scan's own page, which the browser then shows)."""
    if text is not None:
        page.get_by_label("Text", exact=True).fill(text)
    if file is not None:
        page.get_by_label("Or a document (txt, md, html, pdf, docx)").set_input_files(str(file))
    if project_id is not None:
        page.get_by_label("Project", exact=True).select_option(project_id)
    with page.expect_response(lambda r: r.request.method == "POST"
                              and r.url.endswith("/app/scan")) as answer:
        page.get_by_role("button", name="Scan", exact=True).click()
    page.wait_for_load_state()
    return answer.value


def scan_text(page, text: str, **kwargs):
    page.goto("/app/scan")
    return submit_scan(page, text=text, **kwargs)


def scan_id(page) -> str:
    """The scan shown on a result page, from its permanent link."""
    href = page.get_by_role("link", name="permanent link").get_attribute("href")
    match = re.search(r"/app/scans/([^/?#]+)$", href or "")
    assert match, href
    return match.group(1)


def marked(page) -> dict[str, str]:
    """The marked sentences of a result page: text -> data-category."""
    marks = page.locator("mark[data-category]")
    return {marks.nth(i).inner_text().strip(): marks.nth(i).get_attribute("data-category")
            for i in range(marks.count())}


def finding_item(page, risk: str):
    """The entry of ``risk`` in the list of findings of a result page."""
    return page.locator("li[id^='finding-']").filter(has_text=risk)


def create_project(page, name: str, description: str = "") -> str:
    """Create a project through the Projects page; its id (we land on its page)."""
    page.goto("/app/projects")
    page.get_by_label("Name", exact=True).fill(name)
    if description:
        page.get_by_label("Description", exact=True).fill(description)
    page.get_by_role("button", name="Create project").click()
    page.wait_for_url(re.compile(r"/app/projects/[^/]+$"))
    return page.url.rstrip("/").rsplit("/", 1)[1]


def add_member(page, project_id: str, email: str, role: str) -> str:
    """Add ``email`` as ``role`` on the project's Members page (an email with no account is
    invited); the page's path, which it is back on at the form."""
    members = f"/app/projects/{project_id}/members"
    page.goto(members)
    page.get_by_label("Email", exact=True).fill(email)
    page.get_by_label("Role", exact=True).select_option(role)
    page.get_by_role("button", name="Add member").click()
    page.wait_for_url(f"**{members}#add-member")
    return members


def section_text(page, heading: str) -> str | None:
    """The text under the <h2> that starts with ``heading``: its section, or its following
    siblings up to the next <h2>. None when there is no such heading."""
    return page.evaluate("""(name) => {
      const heading = Array.from(document.querySelectorAll('main h2')).find(
        (h) => h.textContent.trim().toLowerCase().startsWith(name.toLowerCase()));
      if (!heading) { return null; }
      const parent = heading.parentElement;
      if (parent.tagName !== 'MAIN' && parent.querySelectorAll('h2').length === 1) {
        return parent.textContent;
      }
      let text = '';
      for (let node = heading.nextElementSibling; node; node = node.nextElementSibling) {
        if (node.tagName === 'H2' || node.querySelector('h2')) { break; }
        text += ' ' + node.textContent;
      }
      return text;
    }""", heading)


def has_horizontal_scroll(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth")


UNLABELLED_FIELDS_JS = """() => {
  const named = (el) => {
    const by = (el.getAttribute('aria-labelledby') || '').split(/\\s+/).filter(Boolean)
      .map((id) => (document.getElementById(id) || {}).textContent || '').join(' ');
    const labels = Array.from(el.labels || []).map((l) => l.textContent).join(' ');
    return (by + ' ' + (el.getAttribute('aria-label') || '') + ' ' + labels).trim();
  };
  return Array.from(document.querySelectorAll('input, select, textarea'))
    .filter((el) => el.type !== 'hidden' && !named(el))
    .map((el) => el.outerHTML.slice(0, 160));
}"""

NAMED_ROLES = {"textbox", "searchbox", "combobox", "listbox", "spinbutton", "checkbox",
               "radio", "slider", "switch", "button", "link", "img"}


def unnamed_controls(page) -> list[str]:
    """Form fields without a label or aria-label (the DOM's view), and controls and links
    whose accessible name Chromium computes as empty (the accessibility tree's view)."""
    problems = [f"no label: {html}" for html in page.evaluate(UNLABELLED_FIELDS_JS)]
    session = page.context.new_cdp_session(page)
    try:
        tree = session.send("Accessibility.getFullAXTree")
    finally:
        session.detach()
    for node in tree["nodes"]:
        role = (node.get("role") or {}).get("value")
        if node.get("ignored") or role not in NAMED_ROLES:
            continue
        name = str((node.get("name") or {}).get("value", "")).strip()
        if not name:
            problems.append(f"no accessible name: a {role} (backend node "
                            f"{node.get('backendDOMNodeId')})")
    return problems


@dataclass
class Seeded:
    """A user made through the API, with a project and scans into it (``seed``)."""

    email: str
    headers: dict
    project_id: str | None = None
    scan_ids: list[str] = field(default_factory=list)
    scans: list[dict] = field(default_factory=list)  # the API's answers, findings included


def seed(app, email: str, *, project: str | None = None, reports=()) -> Seeded:
    """Register ``email`` through the API, in process (quicker than the pages, and apart
    from them: the tests of one page do not depend on another's), with a project named
    ``project`` and ``reports`` scanned into it (or into no project)."""
    client = app.test_client()
    answer = client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    answer = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    seeded = Seeded(email, {"Authorization": f"Bearer {answer.get_json()['access_token']}"})
    if project is not None:
        answer = client.post("/api/v1/projects", json={"name": project}, headers=seeded.headers)
        assert answer.status_code == 201, answer.get_data(as_text=True)
        seeded.project_id = answer.get_json()["id"]
    for report in reports:
        body = {"text": report}
        if seeded.project_id:
            body["project_id"] = seeded.project_id
        answer = client.post("/api/v1/scans", json=body, headers=seeded.headers)
        assert answer.status_code == 201, answer.get_data(as_text=True)
        seeded.scans.append(answer.get_json())
        seeded.scan_ids.append(answer.get_json()["scan_id"])
    return seeded


def upload(app, seeded: Seeded, filename: str, data: bytes) -> dict:
    """``data`` scanned as the document ``filename`` through the API, as ``seeded``."""
    import io

    answer = app.test_client().post("/api/v1/scans", headers=seeded.headers,
                                    data={"file": (io.BytesIO(data), filename)},
                                    content_type="multipart/form-data")
    assert answer.status_code == 201, answer.get_data(as_text=True)
    seeded.scans.append(answer.get_json())
    seeded.scan_ids.append(answer.get_json()["scan_id"])
    return answer.get_json()


def call_api(app, seeded: Seeded, method: str, path: str, status: int = 200, **kwargs):
    """One call to ``/api/v1`` + ``path`` as ``seeded``; its JSON, once its status is
    ``status``."""
    answer = app.test_client().open(f"/api/v1{path}", method=method, headers=seeded.headers,
                                    **kwargs)
    assert answer.status_code == status, answer.get_data(as_text=True)
    return answer.get_json()


def make_admin(app, email: str) -> None:
    """Give ``email`` the admin role, as an operator would in the database."""
    from sqlalchemy import select

    from service.db import User
    from service.extensions import db

    with app.app_context():
        db.session.scalars(select(User).filter_by(email=email)).one().role = "admin"
        db.session.commit()


#: What the console must never have: axe-core's two worst impacts.
BLOCKING_IMPACTS = ("serious", "critical")


def accessibility_violations(page, axe_script) -> list[str]:
    """axe-core's serious and critical violations on the page as it stands (WCAG 2.x A and
    AA rules), one line each: the rule, its impact and the first elements it names."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # The console's CSP refuses inline scripts, rightly; a script the browser itself
        # adds to every document of the page is not the page's, and is allowed.
        page.add_init_script(path=str(axe_script))
        page.reload()
    result = page.evaluate("""() => axe.run(document, {
        runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
        resultTypes: ['violations']})""")
    return [f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes'][:3]]}"
            for v in result["violations"] if v["impact"] in BLOCKING_IMPACTS]


def tab_to(page, wanted, limit: int = 400) -> None:
    """Tab, as a keyboard user does, until the focus is on an element ``wanted`` (a
    function of its id, text and accessible label) accepts."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => {
          const el = document.activeElement;
          return {id: el.id, text: (el.textContent || '').trim(),
                  label: el.getAttribute('aria-label') || ''};
        }""")
        if wanted(focused):
            return
    raise AssertionError("never reached by Tab")
