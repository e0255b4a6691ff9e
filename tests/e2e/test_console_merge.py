"""Merge and split on a register entry's page in Chromium (issue #61 item 3): "Same risk
as…" searched, a risk chosen and the merge confirmed; a wording split out after asking; the
merged-away id's page leading to the risk that holds it. Once with the mouse, once with the
keyboard alone; axe-core on each new page and state.

The project's two reports (tests/e2e/driver.py) state the vendor risk in two wordings that
the real encoder joins into one entry; a risk added by hand states it a third way, which
no matcher joins: the second entry a person merges.
"""

from __future__ import annotations

import re
import uuid

import pytest

from tests.e2e.driver import (
    PROJECT_REPORTS,
    VENDOR_RISK,
    accessibility_violations,
    call_api,
    seed,
    sign_in,
    tab_to,
    unnamed_controls,
)

pytestmark = pytest.mark.slow

CUSTOMS = "Customs may hold the server shipment at the border for weeks."


def register(app, seeded) -> dict[int, dict]:
    return {e["id"]: e for e in call_api(app, seeded, "GET",
                                         f"/projects/{seeded.project_id}/risks")["items"]}


def two_entries(app, who: str):
    """A project with the vendor risk stated in both reports (one entry, two wordings) and
    the same risk added by hand (a second entry); (seeded, vendor entry, hand-added)."""
    seeded = seed(app, f"{who}-{uuid.uuid4().hex[:8]}@example.com", project="Billing migration",
                  reports=PROJECT_REPORTS)
    vendor = next(e for e in register(app, seeded).values()
                  if e["category"] == "vendor" and len(e["findings"]) == 2)
    added = call_api(app, seeded, "POST", f"/projects/{seeded.project_id}/risks", status=201,
                     json={"risk": CUSTOMS, "category": "vendor"})
    return seeded, vendor, added


def clean(page, axe_script) -> None:
    assert unnamed_controls(page) == []
    assert accessibility_violations(page, axe_script) == []


def test_a_risk_found_merged_and_a_wording_split_out_with_the_mouse(page, console_app,
                                                                    axe_script):
    seeded, vendor, added = two_entries(console_app, "ada")
    sign_in(page, seeded.email)
    here = f"/app/projects/{seeded.project_id}/risks/{vendor['id']}"
    page.goto(here)
    same = page.locator("section#same")
    assert f"This risk, risk {vendor['id']}, stays" in same.inner_text()
    same.get_by_label("Search this project's risks", exact=True).fill("customs")
    with page.expect_navigation():
        same.get_by_role("button", name="Search", exact=True).click()
    assert page.url.endswith("#candidates")
    choice = page.get_by_label(f"Risk {added['id']}: {CUSTOMS}", exact=False)
    assert choice.is_checked()  # the only match, chosen already
    clean(page, axe_script)
    with page.expect_navigation():
        same.get_by_role("button", name="Continue", exact=True).click()

    assert page.get_by_role("heading", level=1).inner_text() == (
        f"Merge risk {added['id']} into risk {vendor['id']}?")
    assert page.get_by_role("heading", name=f"Stays: risk {vendor['id']}").is_visible()
    clean(page, axe_script)
    assert len(register(console_app, seeded)) == 4  # asking changed nothing
    with page.expect_navigation():
        page.get_by_role("button", name=f"Merge risk {added['id']} into risk {vendor['id']}",
                         exact=True).click()
    assert page.url.endswith(here)
    assert page.locator(".flash").inner_text().startswith(
        f"Risk {added['id']} merged into this one")
    clean(page, axe_script)
    merged = register(console_app, seeded)
    assert added["id"] not in merged and len(merged[vendor["id"]]["findings"]) == 2

    # The merged-away id, typed or followed from an old link, leads here, saying why.
    page.goto(f"/app/projects/{seeded.project_id}/risks/{added['id']}")
    assert page.url.endswith(here)
    assert (f"Risk {added['id']} was merged into risk {vendor['id']}."
            in page.locator(".flash").inner_text())

    # Each wording with its report and date; the first report's split out, after asking.
    wordings = page.locator("section#wordings li")
    assert wordings.count() == 2
    assert VENDOR_RISK in wordings.nth(0).inner_text()
    assert wordings.nth(0).inner_text().startswith("The report of ")
    # How each came (issue #77): the first report's opened the risk, the next week's
    # rewording joined it at its cosine, which the page says.
    restated = vendor["findings"][1]
    assert restated["joined_by"] == "embeddings"
    assert "(opened this risk)" in wordings.nth(0).inner_text()
    assert (f"(joined as a restatement, {restated['alike']:.2f} alike)"
            in wordings.nth(1).inner_text())
    with page.expect_navigation():
        wordings.nth(0).get_by_role("link", name=f"Split out: {VENDOR_RISK}").click()
    assert page.get_by_role("heading", level=1).inner_text() == (
        f"Split this wording out of risk {vendor['id']}?")
    clean(page, axe_script)
    with page.expect_navigation():
        page.get_by_role("button", name="Split out into a new risk", exact=True).click()
    assert page.url.endswith(f"{here}#wordings")
    said = page.locator("section#wordings p.said")
    assert said.inner_text().startswith(f"Split out: “{VENDOR_RISK}” is risk ")
    assert said.is_visible()  # the page landed at the list, its message in view
    clean(page, axe_script)
    after = register(console_app, seeded)
    (new,) = [e for e in after.values() if e["risk"] == VENDOR_RISK]
    assert new["id"] > added["id"]  # a new id, never the merged one's
    assert len(after[vendor["id"]]["findings"]) == 1
    page.goto(f"/app/projects/{seeded.project_id}/risks/{new['id']}")
    assert "(split out by a person)" in page.locator("section#wordings li").inner_text()


def test_the_merge_and_the_split_with_the_keyboard_alone(page, console_app, axe_script):
    from playwright.sync_api import expect

    seeded, vendor, added = two_entries(console_app, "bea")
    sign_in(page, seeded.email)
    here = f"/app/projects/{seeded.project_id}/risks/{vendor['id']}"
    page.goto(here)

    tab_to(page, lambda el: el["id"] == "same-q")
    page.keyboard.type("customs")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    choice = f"with-{added['id']}"
    tab_to(page, lambda el: el["id"] == choice)
    expect(page.locator(f"#{choice}")).to_be_focused()
    page.keyboard.press("Space")
    tab_to(page, lambda el: el["text"] == "Continue")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert re.search(rf"/risks/{vendor['id']}/merge\?with={added['id']}$", page.url)
    tab_to(page, lambda el: el["text"] == f"Merge risk {added['id']} into risk {vendor['id']}")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(here)
    assert added["id"] not in register(console_app, seeded)

    tab_to(page, lambda el: el["label"] == f"Split out: {VENDOR_RISK}")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    tab_to(page, lambda el: el["text"] == "Split out into a new risk")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith(f"{here}#wordings")
    assert page.locator("section#wordings p.said").inner_text().startswith("Split out: ")
    assert any(e["risk"] == VENDOR_RISK for e in register(console_app, seeded).values()
               if e["id"] != vendor["id"])
