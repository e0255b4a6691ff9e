"""Merge and split on a register entry's page (issue #61 item 3), driven as a browser would:
"Same risk as…" searches the project's entries, one is chosen, the merge asked first and
made; each wording is listed with its report and date, and one is split out (asked first).

Every change goes through the API's merge and split as the signed-in user, so what is
checked is what the API then stores (read back through the API) and what the page says.
The reports are tests/curating.py's: the hosting risk told in two wordings that the matcher
leaves as two entries, the mistake a merge mends.
"""

from __future__ import annotations

import html
import re
import threading

import pytest

from tests.console_browser import Browser, csrf_token, error_page, flashes, text_of
from tests.curating import HOSTING, LICENCES, TRAINING, audited, by_wording, two_entries
from tests.helpers import RACE_TIMEOUT_S
from tests.projects import make_project, register_of, scan_into


@pytest.fixture
def people(team, keyword_app):
    return {who: Browser(keyword_app, getattr(team, who)["email"])
            for who in ("owner", "editor", "viewer", "outsider")}


@pytest.fixture
def hosting(team, client, people):
    """The hosting risk as two entries (the week of 6 March's wording and the 13th's), and
    a third budget risk and a vendor one beside them."""
    keep, other = two_entries(client, team)
    scan_into(client, team.editor_h, team.id, f"{TRAINING} {LICENCES[0]}",
              reported_on="2026-03-20")
    return keep, other


def entry_page(team, risk_id) -> str:
    return f"/app/projects/{team.id}/risks/{risk_id}"


def section(page: str, section_id: str) -> str:
    match = re.search(rf'<section [^>]*id="{section_id}".*?</section>', page, re.DOTALL)
    assert match, f"no section #{section_id}"
    return match[0]


def said_in(part: str) -> list[str]:
    return [html.unescape(p) for p in re.findall(r'<p class="said" role="status">(.*?)</p>',
                                                 part, re.DOTALL)]


def entries(team) -> dict[int, dict]:
    return {e["id"]: e for e in register_of(team.client, team.owner_h, team.id)}


def merged_said(other_id: int) -> str:
    """What the page says after the hosting risk's second wording was merged into it."""
    return (f"Risk {other_id} merged into this one: it states “{HOSTING[1]}” in 2 findings "
            f"now, and risk {other_id}'s page leads here.")


def merge_post(browser, team, keep, other, *, follow=False):
    """The confirmation page's form, posted with its own token."""
    confirm = f"{entry_page(team, keep)}/merge?with={other}"
    return browser.post_form(confirm, f"{entry_page(team, keep)}/merge", {"from": str(other)},
                             follow=follow)


def test_the_same_risk_is_found_chosen_confirmed_and_merged(team, people, hosting):
    keep, other = hosting
    editor, here = people["editor"], entry_page(team, keep["id"])
    page = editor.page(here)
    same = section(page, "same")
    assert "Same risk as…" in same and 'name="q"' in same and "risk " + str(keep["id"]) in same
    assert "stays with its id" in same  # which one survives, said before anything is chosen

    # The search: the other hosting wording and the training budget, never the entry itself;
    # the vendor risk is of another category, listed apart, not offered.
    found = section(editor.page(f"{here}?q=budget"), "same")
    offered = [int(i) for i in re.findall(r'name="with" value="(\d+)"', found)]
    budget = {e["id"] for e in entries(team).values() if e["category"] == "budget"}
    assert sorted(offered) == sorted(budget - {keep["id"]})
    vendor = by_wording(entries(team).values(), LICENCES[0])
    assert f"Risk {vendor['id']}: " not in found  # "budget" is not in its words
    other_category = section(editor.page(f"{here}?q=the"), "same")
    assert f'value="{vendor["id"]}"' not in other_category
    assert f"Risk {vendor['id']}: {LICENCES[0]}" in html.unescape(other_category)
    assert "No other risk of the category budget matches “zzz”." in html.unescape(
        section(editor.page(f"{here}?q=zzz"), "same"))

    # Chosen: the confirmation names which stays, and the form that merges.
    confirm = html.unescape(editor.page(f"{here}/merge?with={other['id']}"))
    assert f"Merge risk {other['id']} into risk {keep['id']}?" in confirm
    assert f"Stays: risk {keep['id']}" in confirm and f"Merged into it: risk {other['id']}" in confirm
    assert f'name="from" value="{other["id"]}"' in confirm
    assert f"/risks/{other['id']}/merge?with={keep['id']}" in confirm  # the other way round
    assert len(entries(team)) == 4  # asking changed nothing

    response = merge_post(editor, team, keep["id"], other["id"])
    assert response.status_code == 303 and response.headers["Location"] == here
    page = editor.page(here)
    assert flashes(page) == [merged_said(other["id"])]
    merged = entries(team)
    assert other["id"] not in merged and merged[keep["id"]]["occurrences"] == 2
    assert len(audited(team.client.application, "risk_merged")) == 1

    # The merged-away id leads to the risk that holds its findings, in the API and here.
    api = team.client.get(f"/api/v1/projects/{team.id}/risks/{other['id']}",
                          headers=team.viewer_h)
    assert api.status_code == 301 and api.headers["Location"].endswith(f"/risks/{keep['id']}")
    for browser in (people["viewer"], editor):
        moved = browser.get(entry_page(team, other["id"]))
        assert moved.status_code == 302 and moved.headers["Location"] == here
        assert flashes(browser.page(here)) == [
            f"Risk {other['id']} was merged into risk {keep['id']}. This is risk {keep['id']}."]
    moved = editor.get(f"{entry_page(team, other['id'])}/merge?with={keep['id']}")
    assert moved.status_code == 302 and moved.headers["Location"] == here


def test_each_wording_is_listed_with_its_report_and_split_out_after_asking(team, people,
                                                                         hosting):
    keep, other = hosting
    editor, here = people["editor"], entry_page(team, keep["id"])
    assert merge_post(editor, team, keep["id"], other["id"]).status_code == 303
    wordings = section(editor.page(here), "wordings")
    items = [html.unescape(re.sub(r"<[^>]+>", "", item)) for item in
             re.findall(r"<li [^>]*>(.*?)</li>", wordings, re.DOTALL)]
    assert len(items) == 2
    for item, day, wording, how in zip(items, ("6 Mar 2026", "13 Mar 2026"), HOSTING,
                                       ("opened this risk", "merged in by a person"),
                                       strict=False):
        item = " ".join(item.split())  # the report named by its title, then the wording
        assert item.startswith(f"The report of {day} ("), item
        assert item.endswith(f"): {wording} ({how}) Split out"), item
    finding = other["findings"][0]["finding_id"]

    confirm = html.unescape(editor.page(f"{here}/split?finding={finding}"))
    assert f"Split this wording out of risk {keep['id']}?" in confirm
    assert HOSTING[1] in confirm and "13 Mar 2026" in confirm
    assert len(entries(team)) == 3  # asking changed nothing

    response = editor.post_form(f"{here}/split?finding={finding}", f"{here}/split",
                                {"finding": str(finding)}, follow=False)
    assert response.status_code == 303 and response.headers["Location"] == f"{here}#wordings"
    now = entries(team)
    (new,) = [e for e in now.values() if e["id"] not in (keep["id"],)
              and e["risk"] == HOSTING[1]]
    assert new["id"] > max(keep["id"], other["id"])  # a new id, never the merged one's
    assert [f["finding_id"] for f in new["findings"]] == [finding]
    assert now[keep["id"]]["occurrences"] == 1
    page = editor.page(here)
    assert flashes(page) == []  # said beside the list, where the page lands
    wordings = section(page, "wordings")
    assert said_in(wordings) == [(f"Split out: “{HOSTING[1]}” is risk {new['id']} now, of "
                                  "the category budget, open and not rated.")]
    # The same split sent again (the back button, a second click): the API's 409 in words.
    again = editor.post_form(here, f"{here}/split", {"finding": str(finding)}, follow=False)
    assert again.status_code == 303
    assert said_in(section(editor.page(here), "wordings")) == [
        f"Not in this risk: finding {finding} is in risk {new['id']}."]
    assert entries(team) == now
    # One wording left: a risk keeps at least one, so nothing is offered to split.
    assert "Split out</a>" not in wordings and "there is nothing to split out" in wordings
    refused = html.unescape(editor.page(
        f"{here}/split?finding={keep['findings'][0]['finding_id']}"))
    assert "nothing to split out" in refused and 'name="finding"' not in refused


def test_a_viewer_sees_no_control_and_a_forged_form_is_the_apis_403(team, people, hosting):
    keep, other = hosting
    viewer, here = people["viewer"], entry_page(team, keep["id"])
    page = viewer.page(f"{here}?q=budget")
    assert 'name="q"' not in page and 'name="with"' not in page and "Split out" not in page
    assert "merged into it by an editor or owner" in section(page, "same")
    confirm = viewer.page(f"{here}/merge?with={other['id']}")
    assert 'name="from"' not in confirm and "merging risks takes an editor or owner" in confirm
    before = entries(team)
    forged = merge_post(viewer, team, keep["id"], other["id"])
    assert "Your role in this project is viewer" in error_page(forged, 403)
    forged = viewer.post_form(here, f"{here}/split",
                              {"finding": str(keep["findings"][0]["finding_id"])})
    assert "Your role in this project is viewer" in error_page(forged, 403)
    assert entries(team) == before


def test_another_projects_entry_is_a_404_and_nothing_changes(team, people, hosting):
    keep, _ = hosting
    elsewhere = make_project(team.client, team.owner_h, name="Elsewhere")
    scan_into(team.client, team.owner_h, elsewhere["id"], HOSTING[2])
    (foreign,) = register_of(team.client, team.owner_h, elsewhere["id"])
    editor, here = people["editor"], entry_page(team, keep["id"])
    before = entries(team)
    # Its id under this project: the API's 404, as for no entry at all.
    error_page(editor.get(f"{here}/merge?with={foreign['id']}"), 404)
    error_page(editor.get(f"{entry_page(team, foreign['id'])}/merge?with={keep['id']}"), 404)
    own = editor.page(here)
    for action, data in ((f"{entry_page(team, foreign['id'])}/merge", {"from": keep["id"]}),
                         (f"{entry_page(team, foreign['id'])}/split",
                          {"finding": foreign["findings"][0]["finding_id"]})):
        page = error_page(editor.client.post(action, data={**data, "csrf_token": csrf_token(
            own)}), 404)
        assert "No such risk" in page
    # Named in this entry's form: the API's words, beside the section.
    merge_post(editor, team, keep["id"], foreign["id"])
    assert said_in(section(editor.page(here), "same")) == [
        f"No such risk in this project: {foreign['id']}."]
    # An outsider gets the project's 404, whatever the entry.
    error_page(people["outsider"].get(f"{here}/merge?with={keep['id']}"), 404)
    assert entries(team) == before
    assert register_of(team.client, team.owner_h, elsewhere["id"]) == [foreign]


def test_a_risk_is_not_merged_into_itself_nor_across_categories(team, people, hosting):
    keep, _ = hosting
    editor, here = people["editor"], entry_page(team, keep["id"])
    vendor = by_wording(entries(team).values(), LICENCES[0])
    before = entries(team)
    confirm = html.unescape(editor.page(f"{here}/merge?with={keep['id']}"))
    assert "A risk cannot be merged into itself." in confirm and 'name="from"' not in confirm
    confirm = html.unescape(editor.page(f"{here}/merge?with={vendor['id']}"))
    assert f"Risk {vendor['id']} is of the category vendor, this one of budget" in confirm
    assert 'name="from"' not in confirm
    # The forms forged anyway: the API's refusals, said beside "Same risk as…".
    merge_post(editor, team, keep["id"], keep["id"])
    assert said_in(section(editor.page(here), "same")) == [
        "A risk cannot be merged into itself."]
    merge_post(editor, team, keep["id"], vendor["id"])
    assert said_in(section(editor.page(here), "same"))[0].startswith(
        f"Of another category than budget: {vendor['id']}")
    assert entries(team) == before


@pytest.mark.parametrize("bad", ["abc", "", "-1", "1.5", str(10 ** 20), "1,2"])
def test_a_malformed_id_is_refused_in_words_and_changes_nothing(team, people, hosting, bad):
    keep, _ = hosting
    editor, here = people["editor"], entry_page(team, keep["id"])
    before = entries(team)
    chosen = editor.get(f"{here}/merge", query_string={"with": bad})
    assert chosen.status_code == 302 and chosen.headers["Location"] == f"{here}#same"
    assert said_in(section(editor.page(here), "same")) == [
        "Choose the risk that is the same as this one."]
    response = editor.post_form(here, f"{here}/merge", {"from": bad}, follow=False)
    assert response.status_code == 303
    assert said_in(section(editor.page(here), "same")) == [
        "The request has invalid or missing fields. Same risk as: Not a valid integer."]
    split = editor.get(f"{here}/split", query_string={"finding": bad})
    assert split.status_code == 302 and split.headers["Location"] == f"{here}#wordings"
    assert said_in(section(editor.page(here), "wordings")) == [
        f"That wording is not in risk {keep['id']} (any more): choose one of its list."]
    response = editor.post_form(here, f"{here}/split", {"finding": bad}, follow=False)
    assert response.status_code == 303
    assert said_in(section(editor.page(here), "wordings")) == [
        "The request has invalid or missing fields. Split out: Not a valid integer."]
    for path in (f"/app/projects/{team.id}/risks/{bad or 'x'}/merge",
                 f"/app/projects/{team.id}/risks/{bad or 'x'}/split"):
        error_page(editor.get(path, query_string={"with": keep["id"]}), 404)
    assert entries(team) == before


def test_the_same_merge_sent_twice_at_once_is_made_once_and_the_second_told(
        team, people, hosting, keyword_app):
    """A double click, or two tabs: both forms race to the API; one merges, the other is
    told the risk was merged already, on the same page, and nothing is lost."""
    keep, other = hosting
    here = entry_page(team, keep["id"])
    tabs = [people["editor"], Browser(keyword_app, team.editor["email"])]
    confirm = f"{here}/merge?with={other['id']}"
    tokens = [csrf_token(tab.page(confirm)) for tab in tabs]
    barrier = threading.Barrier(2, timeout=RACE_TIMEOUT_S)
    responses = [None, None]

    def send(index):
        barrier.wait()
        responses[index] = tabs[index].client.post(
            f"{here}/merge", data={"from": str(other["id"]), "csrf_token": tokens[index]})

    threads = [threading.Thread(target=send, args=(i,), daemon=True) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=RACE_TIMEOUT_S)
        assert not thread.is_alive(), f"a merge still running after {RACE_TIMEOUT_S} s"
    assert [r.status_code for r in responses] == [303, 303]
    pages = [tab.page(here) for tab in tabs]
    told = sorted(" ".join(flashes(page) + said_in(section(page, "same"))) for page in pages)
    assert told == sorted([merged_said(other["id"]),
                           f"Risk {other['id']} was merged into risk {keep['id']} already."])
    merged = entries(team)
    assert other["id"] not in merged and merged[keep["id"]]["occurrences"] == 2
    assert len(audited(keyword_app, "risk_merged")) == 1


def test_a_merge_of_this_risk_elsewhere_meanwhile_leads_to_where_it_went(team, people,
                                                                         hosting):
    """The confirmation was open when someone merged this risk into the other: the form's
    merge is refused, and the browser lands on the risk that holds both, told why."""
    keep, other = hosting
    editor, here = people["editor"], entry_page(team, keep["id"])
    confirm = f"{here}/merge?with={other['id']}"
    token = csrf_token(editor.page(confirm))
    assert merge_post(people["owner"], team, other["id"], keep["id"]).status_code == 303
    response = editor.client.post(f"{here}/merge", data={"from": str(other["id"]),
                                                          "csrf_token": token},
                                  follow_redirects=True)
    assert response.status_code == 200
    assert response.request.path == entry_page(team, other["id"])
    page = text_of(response)
    assert flashes(page) == [(f"Risk {keep['id']} was merged into risk {other['id']}. "
                              f"This is risk {other['id']}.")]
    assert said_in(section(page, "same")) == [
        f"Risk {keep['id']} was merged into risk {other['id']}. Change that one."]
    assert entries(team)[other["id"]]["occurrences"] == 2
