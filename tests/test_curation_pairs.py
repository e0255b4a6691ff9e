"""People's merges and splits as pairs for the register's pair model (issue #77): a trusted
reviewer's merge says two wordings are the same risk, their split says a sentence is another
one; `flask export-register-pairs` writes them, `python -m ml.pair_training train
--register-pairs` learns them in its train split only (service/projects/curation_pairs.py,
ml/register_pairs.py; tests/curating.py has the reports).
"""

from __future__ import annotations

import json

import pytest

from ml.register_pairs import InvalidRegisterPairsError
from service.projects.curation_pairs import pair_key
from tests.curating import BADGES, HOSTING, LICENCES, merge, split, two_entries
from tests.projects import Team, add_member, make_project, register_of, scan_into
from tests.scanning import KeywordAnalyzer


def made(team, user, **fields) -> None:
    """An admin changes the account (role, active), as the users' page does."""
    response = team.client.patch(f"/api/v1/users/{user['id']}", json=fields,
                                 headers=team.admin_h)
    assert response.status_code == 200, response.get_json()


def exported(app, tmp_path) -> tuple[list[dict], str]:
    """The pairs `flask export-register-pairs` wrote, and the line it printed."""
    out = tmp_path / "register-pairs.jsonl"
    result = app.test_cli_runner().invoke(args=["export-register-pairs", "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = out.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines], result.output.strip()


def reviewers_merge(team):
    """The editor, made a reviewer, merges the second of two entries into the first: the
    two entries as they were."""
    made(team, team.editor, role="reviewer")
    keep, other = two_entries(team.client, team)
    assert merge(team.client, team, keep["id"], [other["id"]]).status_code == 200
    return keep, other


def pair(a, b, relation, project):
    return {"a": a, "b": b, "relation": relation,
            "source": {"same": "merge", "different": "split"}[relation], "project": project}


def test_a_reviewers_merge_exports_the_two_wordings_as_the_same_risk(team, keyword_app,
                                                                     tmp_path):
    reviewers_merge(team)
    pairs, said = exported(keyword_app, tmp_path)
    # The wording the entry had when the other was merged into it, and the merged one's.
    assert pairs == [pair(HOSTING[0], HOSTING[1], "same", team.id)]
    assert said.startswith("wrote 1 pairs to ")
    assert said.endswith(": 1 same, 0 different; 0 waiting (decided by an account that is "
                         "not an active reviewer or admin), 0 gone")


def test_the_pairs_are_their_owners_alone_and_a_dash_is_standard_output(
        team, keyword_app, tmp_path, monkeypatch):
    """Issue #86: people's wordings were written readable by all (0644), and `--out -`
    wrote a file named `-`. The file is 0600, as a backup is; `-` is standard output, with
    the summary line on standard error."""
    reviewers_merge(team)
    pairs, _ = exported(keyword_app, tmp_path)
    out = tmp_path / "register-pairs.jsonl"
    assert out.stat().st_mode & 0o777 == 0o600

    monkeypatch.chdir(tmp_path)
    result = keyword_app.test_cli_runner().invoke(args=["export-register-pairs", "--out", "-"])
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in result.stdout.splitlines()] == pairs
    assert result.stderr.startswith("wrote 1 pairs to standard output: 1 same")
    assert not (tmp_path / "-").exists()


@pytest.fixture
def loose_team(make_app, monkeypatch):
    """A team whose register joins loosely (cosine 0.3): the badge readers' risk joins the
    licences' entry, a wrong join a person splits out."""
    app = make_app(REGISTER_MATCH_THRESHOLD=0.3)
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", KeywordAnalyzer())
    team = Team(app, app.test_client())
    team.app = app
    return team


def test_a_reviewers_split_exports_the_sentence_against_what_the_risk_kept(loose_team,
                                                                          tmp_path):
    team = loose_team
    made(team, team.editor, role="reviewer")
    scan_into(team.client, team.editor_h, team.id, LICENCES[0], reported_on="2026-03-06")
    scan_into(team.client, team.editor_h, team.id, BADGES[0], reported_on="2026-03-13")
    (joined,) = register_of(team.client, team.owner_h, team.id)
    assert [f["joined_by"] for f in joined["findings"]] == ["opened", "embeddings"]
    badges = joined["findings"][1]["finding_id"]
    assert split(team.client, team, joined["id"], [badges]).status_code == 201
    pairs, said = exported(team.app, tmp_path)
    assert pairs == [pair(LICENCES[0], BADGES[0], "different", team.id)]
    assert ": 0 same, 1 different; 0 waiting" in said


def test_an_editors_merge_waits_and_stays_out_with_no_review_to_accept_it(team, keyword_app,
                                                                          tmp_path):
    keep, other = two_entries(team.client, team)
    assert merge(team.client, team, keep["id"], [other["id"]]).status_code == 200
    pairs, said = exported(keyword_app, tmp_path)
    assert pairs == []
    assert said.startswith("wrote 0 pairs to ") and ": 0 same, 0 different; 1 waiting" in said
    # Made a reviewer later, the editor's earlier merge still does not teach: nobody
    # reviewed it, and there is no queue where anybody could.
    made(team, team.editor, role="reviewer")
    pairs, said = exported(keyword_app, tmp_path)
    assert pairs == [] and "; 1 waiting" in said


def test_a_deactivated_reviewers_merge_is_out(team, keyword_app, tmp_path):
    reviewers_merge(team)
    assert len(exported(keyword_app, tmp_path)[0]) == 1
    made(team, team.editor, active=False)
    pairs, said = exported(keyword_app, tmp_path)
    assert pairs == [] and "; 1 waiting" in said


def test_the_newest_decision_of_a_pair_stands(team, keyword_app, tmp_path):
    """A merge undone by a split leaves only "different"; merged back, only "same"."""
    keep, other = reviewers_merge(team)
    moved = other["findings"][0]["finding_id"]
    response = split(team.client, team, keep["id"], [moved])
    assert response.status_code == 201, response.get_json()
    pairs, said = exported(keyword_app, tmp_path)
    assert pairs == [pair(HOSTING[0], HOSTING[1], "different", team.id)]
    assert ": 0 same, 1 different; 0 waiting" in said

    # Merged back the other way round: the same pair in the other order, one row.
    again = merge(team.client, team, response.get_json()["id"], [keep["id"]])
    assert again.status_code == 200, again.get_json()
    assert exported(keyword_app, tmp_path)[0] == [pair(HOSTING[1], HOSTING[0], "same",
                                                       team.id)]


def test_a_pair_is_one_whatever_its_case_spacing_and_order():
    assert pair_key("Cloud  hosting costs.", "the VENDOR is late.") == pair_key(
        " the vendor is late. ", "cloud hosting COSTS.")
    assert pair_key("Cloud hosting costs.", " cloud  HOSTING costs. ") is None


def test_an_editors_later_split_holds_back_a_reviewers_merge(team, keyword_app, tmp_path):
    """The newest decision stands whoever made it: a pair the register now says is two
    risks is not taught as one, and an editor's word alone does not teach either."""
    made(team, team.owner, role="reviewer")
    keep, other = two_entries(team.client, team)
    merged = merge(team.client, team, keep["id"], [other["id"]], headers=team.owner_h)
    assert merged.status_code == 200
    assert split(team.client, team, keep["id"],
                 [other["findings"][0]["finding_id"]]).status_code == 201  # the editor
    pairs, said = exported(keyword_app, tmp_path)
    assert pairs == [] and "; 1 waiting" in said


def test_each_projects_pairs_are_its_own(team, keyword_app, tmp_path):
    reviewers_merge(team)
    elsewhere = make_project(team.client, team.owner_h, name="Data centre move")["id"]
    add_member(team.client, team.owner_h, elsewhere, team.editor["email"], "editor")
    scan_into(team.client, team.editor_h, elsewhere, LICENCES[0], reported_on="2026-03-06")
    scan_into(team.client, team.editor_h, elsewhere, BADGES[0], reported_on="2026-03-13")
    there = {e["risk"]: e["id"] for e in register_of(team.client, team.owner_h, elsewhere)}
    response = team.client.post(f"/api/v1/projects/{elsewhere}/risks/"
                                f"{there[LICENCES[0]]}/merge", headers=team.editor_h,
                                json={"from": [there[BADGES[0]]]})
    assert response.status_code == 200, response.get_json()
    pairs, _ = exported(keyword_app, tmp_path)
    assert sorted(pairs, key=lambda p: p["a"]) == [
        pair(HOSTING[0], HOSTING[1], "same", team.id),
        pair(LICENCES[0], BADGES[0], "same", elsewhere)]


def test_a_deleted_report_takes_its_sentences_pairs_with_it(team, keyword_app, tmp_path):
    _, other = reviewers_merge(team)
    response = team.client.delete(f"/api/v1/scans/{other['findings'][0]['scan_id']}",
                                  headers=team.editor_h)
    assert response.status_code == 204
    pairs, said = exported(keyword_app, tmp_path)
    assert pairs == [] and said.endswith("; 0 waiting (decided by an account that is not an "
                                         "active reviewer or admin), 1 gone")


def test_an_export_that_cannot_be_written_is_one_line_and_leaves_nothing(team, keyword_app,
                                                                         tmp_path):
    out = tmp_path / "missing" / "pairs.jsonl"
    result = keyword_app.test_cli_runner().invoke(args=["export-register-pairs",
                                                        "--out", str(out)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith("Error: ") and len(result.output.strip().splitlines()) == 1
    assert not out.parent.exists()


def test_an_export_on_a_database_never_migrated_says_to_run_init_db(unmigrated_app,
                                                                    tmp_path):
    (tmp_path / "out").mkdir()
    out = tmp_path / "out" / "pairs.jsonl"
    result = unmigrated_app.test_cli_runner().invoke(args=["export-register-pairs",
                                                           "--out", str(out)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: the database has no schema yet: run `flask --app service init-db` first"]
    assert list(out.parent.iterdir()) == []  # nothing written, not even half a file


# The ml side: python -m ml.pair_training train --register-pairs FILE


def written(path, *rows) -> str:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n"
                            for row in rows), encoding="utf-8")
    return str(path)


GOOD = {"a": HOSTING[0], "b": HOSTING[1], "relation": "same", "source": "merge",
        "project": "p-1"}
SPLIT = {"a": LICENCES[0], "b": BADGES[0], "relation": "different", "source": "split",
         "project": "p-1"}


@pytest.mark.parametrize(("bad", "says"), [
    ("{not json", "not JSON"),
    ({**GOOD, "relation": "similar"}, "unknown relation 'similar'"),
    ({**GOOD, "b": "  "}, '"b" must be a sentence'),
    ({**GOOD, "label": "same"}, "unknown field 'label'"),
    ('"' + "x" * 20_000 + '"', "a line of 20002 characters"),
])
def test_a_malformed_line_is_refused_naming_it_before_any_training(tmp_path, capsys, bad,
                                                                   says):
    from ml.pair_training import load_pairs, main

    path = written(tmp_path / "pairs.jsonl", GOOD, bad)
    with pytest.raises(InvalidRegisterPairsError, match=f"pairs.jsonl:2: {says}"):
        load_pairs([path])
    with pytest.raises(SystemExit) as exited:  # refused by its argument, before torch loads
        main(["train", "--out", str(tmp_path / "pair"), "--register-pairs", path])
    assert exited.value.code == 2
    assert f"pairs.jsonl:2: {says}" in capsys.readouterr().err
    assert not (tmp_path / "pair").exists()


def test_good_pairs_join_the_train_split_only(tmp_path):
    from ml.pair_training import load_pairs

    plain = load_pairs()
    dev_pair = plain["dev"][0]
    first = written(tmp_path / "week.jsonl", GOOD, SPLIT,
                    {**GOOD, "a": HOSTING[1].upper(), "b": f"  {HOSTING[0]} "},  # the same
                    {**GOOD, "b": dev_pair["a"]})  # a sentence that measures: left out
    second = written(tmp_path / "other.jsonl",
                     {**SPLIT, "relation": "same"})  # the files disagree: dropped
    splits = load_pairs([first, second])
    assert {name: len(pairs) for name, pairs in splits.items()} == {
        "train": len(plain["train"]) + 1, "dev": len(plain["dev"]),
        "test": len(plain["test"])}
    added = [p for p in splits["train"] if p["source"] == "register"]
    assert [(p["a"], p["b"], p["same"]) for p in added] == [(HOSTING[0], HOSTING[1], True)]
    assert all(p["source"] != "register" for name in ("dev", "test") for p in splits[name])
    assert len(load_pairs([written(tmp_path / "one.jsonl", SPLIT)])["train"]) == len(
        plain["train"]) + 1
