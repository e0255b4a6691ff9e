"""The register's pair model (issue #77): the embeddings shortlist at most a few entries, a
cross-encoder reading both sentences decides, and without one today's cosine rule stays.

The pair model here is real but small: trained for this module on a few of the labelled
pairs for one epoch (``ml.pair_model train --limit``), so the tests check what decides a
join, never how well; its quality is measured in docs/experiments/."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from service.analysis.pair_model import PairModel
from service.projects.register import matching
from tests.projects import register_of, scan_into
from tests.register_reports import WEEK_1, WEEK_2


@pytest.fixture(scope="module")
def small_pair_model(tmp_path_factory):
    from ml.pair_training import train

    folder = tmp_path_factory.mktemp("pairs") / "pair"
    train(folder, seed=13, epochs=1, limit=48)
    return folder


def with_threshold(source, target, threshold: float):
    """A copy of the pair model whose threshold is ``threshold`` (copied, never edited)."""
    shutil.copytree(source, target)
    config = json.loads((target / "pair_model.json").read_text())
    (target / "pair_model.json").write_text(json.dumps({**config, "threshold": threshold}))
    return PairModel(target)


def test_the_shortlist_is_bounded_and_floored():
    similarities = {key: (0.9 - key * 0.05, 0) for key in range(12)}
    similarities[99] = (0.29, 0)
    listed = matching.shortlist(similarities)
    assert listed == [0, 1, 2, 3, 4] and len(listed) == matching.SHORTLIST
    assert matching.shortlist({7: (0.2, 0)}) == []
    # An entry's closest wording stands for it, and says which wording it is.
    assert matching.by_entry([5, 5, 8], np.array([0.1, 0.7, 0.4])) == {5: (0.7, 1),
                                                                      8: (0.4, 0)}


def test_a_models_root_without_a_pair_model_keeps_todays_rule(tmp_path, small_pair_model,
                                                              team, client):
    assert matching.pair_model(tmp_path) is None
    assert matching.pair_model(None) is None
    shutil.copytree(small_pair_model, tmp_path / "pair")
    assert isinstance(matching.pair_model(tmp_path), PairModel)
    # The app of these tests has no models root: the cosine rule joins the restatements.
    scan_into(client, team.owner_h, team.id, WEEK_1, reported_on="2026-03-06")
    scan_into(client, team.owner_h, team.id, WEEK_2, reported_on="2026-03-13")
    assert len(register_of(client, team.owner_h, team.id)) == 2


def test_the_pair_model_decides_what_the_embeddings_shortlist(small_pair_model, tmp_path,
                                                               team, client, monkeypatch):
    never = with_threshold(small_pair_model, tmp_path / "never", 1.01)
    asked = []
    real = never.probabilities

    def counted(pairs):
        asked.append(list(pairs))
        return real(pairs)

    monkeypatch.setattr(never, "probabilities", counted)
    monkeypatch.setattr(matching, "pair_model", lambda root: never)
    scan_into(client, team.owner_h, team.id, WEEK_1, reported_on="2026-03-06")
    scan_into(client, team.owner_h, team.id, WEEK_2, reported_on="2026-03-13")
    # Restatements the cosine rule joins stay apart when the reader says no.
    assert len(register_of(client, team.owner_h, team.id)) == 4
    assert asked and all(1 <= len(pairs) <= matching.SHORTLIST for pairs in asked)
    # The entry's wording first, the new finding second: as the model was trained.
    restated = {b: a for pairs in asked for a, b in pairs}
    assert set(restated) <= set(WEEK_2.replace(". ", ".\n").splitlines())


def test_its_probabilities_are_read_from_the_folder(small_pair_model):
    model = PairModel(small_pair_model)
    config = json.loads((small_pair_model / "pair_model.json").read_text())
    assert model.threshold == config["threshold"]
    scores = model.probabilities([("The vendor may slip.", "The vendor may slip again."),
                                  ("The vendor may slip.", "The budget is overrun.")])
    assert scores.shape == (2,) and ((scores >= 0) & (scores <= 1)).all()
    assert model.probabilities([]).shape == (0,)


def test_a_join_by_the_pair_model_says_so_and_how_sure(small_pair_model, tmp_path, team,
                                                       client, monkeypatch):
    always = with_threshold(small_pair_model, tmp_path / "always", 0.0)
    monkeypatch.setattr(matching, "pair_model", lambda root: always)
    scans = [scan_into(client, team.owner_h, team.id, text, reported_on=day)
             for text, day in ((WEEK_1, "2026-03-06"), (WEEK_2, "2026-03-13"))]
    said = {f["id"]: f["risk"] for scan in scans for f in scan["data"]}
    joined = [entry["findings"] for entry in register_of(client, team.owner_h, team.id)
              if len(entry["findings"]) == 2]
    assert joined, "the pair model at threshold 0 joined nothing"
    for opened, restated in joined:
        assert (opened["joined_by"], opened["alike"]) == ("opened", None)
        assert restated["joined_by"] == "pair_model"
        sure = always.probabilities([(said[opened["finding_id"]],
                                      said[restated["finding_id"]])])[0]
        assert restated["alike"] == pytest.approx(float(sure), abs=1e-3)


@pytest.fixture
def pair_root(tmp_path, models_root, small_pair_model):
    """A models root of the test's own: the fast model v1 (current), the register's pair
    model in ``pair`` (at threshold 0, so that it joins whatever it is shortlisted), a
    second pair model beside it and a pair model whose threshold is out of range."""
    from tests.registry import own_root

    root = own_root(tmp_path / "models", models_root, ("v1",))
    with_threshold(small_pair_model, root / "pair", 0.0)
    shutil.copytree(small_pair_model, root / "pair-s7")
    with_threshold(small_pair_model, root / "pair-odd", 3.0)
    return root


@pytest.fixture
def pair_deployed(make_app, pair_root):
    from tests.projects import Team

    app = make_app(MODEL_DIR=str(pair_root))
    client = app.test_client()
    return app, client, Team(app, client)


def test_the_registry_lists_the_pair_model_beside_the_classifier_with_its_card(
        pair_deployed, small_pair_model):
    _, client, team = pair_deployed
    response = client.get("/api/v1/admin/models", headers=team.admin_h)
    assert response.status_code == 200, response.get_json()
    listed = {m["version"]: (m["role"], m["state"], m["reason"], m["figures"]["min_score"])
              for m in response.get_json()["items"]}
    assert listed == {
        "v1": ("fast", "active", None, listed["v1"][3]),
        # The register reads the root's `pair` folder: that one is in use.
        "pair": ("pair", "active", None, 0.0),
        "pair-s7": ("pair", "available", None, json.loads(
            (small_pair_model / "pair_model.json").read_text())["threshold"]),
        "pair-odd": ("pair", "broken", "pair_model.json has no threshold within 0..1", 3.0),
    }
    card = client.get("/api/v1/admin/models/pair-s7", headers=team.admin_h).get_json()
    assert card["card"].startswith("# Pair model: does a new finding restate")
    assert "--seed 13" in card["card"] and card["encoder"] == "all-MiniLM-L6-v2"
    # The card's figures are its metrics, measured beside today's rule on the same pairs.
    dev = card["metrics"]["dev/restated"]
    assert set(dev) == {"pair_model", "pair_model_in_category", "todays_rule", "auc"}
    assert f"| dev/restated | {dev['pair_model']['pairs']} ({dev['pair_model']['same']}) |" \
        in card["card"]


def test_a_pair_model_is_refused_as_a_classifier_and_as_a_training_base(pair_deployed):
    _, client, team = pair_deployed
    for version, body in (("pair", None), ("pair-s7", None), ("v1", {"reader": "pair"})):
        response = client.post(f"/api/v1/admin/models/{version}/activate",
                               headers=team.admin_h, json=body)
        assert response.status_code == 422, response.get_json()
        assert "the register's pair model" in response.get_json()["detail"]
    assert client.get("/api/v1/admin/models", headers=team.admin_h).get_json()["active"] == "v1"
    started = client.post("/api/v1/admin/models/trainings", headers=team.admin_h,
                          json={"base": "pair-s7"})
    assert started.status_code == 422, started.get_json()
    assert started.get_json()["errors"]["base"] == ["The register's pair model."]
    # Nobody else may read it either.
    assert client.get("/api/v1/admin/models/pair", headers=team.owner_h).status_code == 403


def test_a_scan_into_a_project_is_joined_by_the_models_roots_pair_model(pair_deployed):
    """No stand-in: the register finds the pair model in the deployment's models root."""
    _, client, team = pair_deployed
    for text, day in ((WEEK_1, "2026-03-06"), (WEEK_2, "2026-03-13")):
        scan_into(client, team.owner_h, team.id, text, reported_on=day)
    how = [finding["joined_by"] for entry in register_of(client, team.owner_h, team.id)
           for finding in entry["findings"]]
    assert "pair_model" in how and "embeddings" not in how, how


def test_a_pm_undoes_a_pair_model_join_as_a_split_that_teaches_the_next_model(
        pair_deployed, tmp_path):
    """The pair model joined a restatement; a person says it is another risk. The split
    leaves the entry as it was before the join, and, from a reviewer, is a pair marked
    "different" for the next pair model (flask export-register-pairs)."""
    from tests.curating import split

    app, client, team = pair_deployed
    for text, day in ((WEEK_1, "2026-03-06"), (WEEK_2, "2026-03-13")):
        scan_into(client, team.owner_h, team.id, text, reported_on=day)
    joined = next(e for e in register_of(client, team.owner_h, team.id)
                  if [f["joined_by"] for f in e["findings"]] == ["opened", "pair_model"])
    made_reviewer = client.patch(f"/api/v1/users/{team.editor['id']}", json={"role": "reviewer"},
                                 headers=team.admin_h)
    assert made_reviewer.status_code == 200, made_reviewer.get_json()
    restated = joined["findings"][1]["finding_id"]
    answer = split(client, team, joined["id"], [restated])
    assert answer.status_code == 201, answer.get_json()
    assert [(f["joined_by"], f["alike"]) for f in answer.get_json()["findings"]] == [
        ("split", None)]
    kept = client.get(f"/api/v1/projects/{team.id}/risks/{joined['id']}",
                      headers=team.owner_h).get_json()
    assert [f["joined_by"] for f in kept["findings"]] == ["opened"]

    out = tmp_path / "pairs.jsonl"
    result = app.test_cli_runner().invoke(args=["export-register-pairs", "--out", str(out)])
    assert result.exit_code == 0, result.output
    pairs = [json.loads(line) for line in out.read_text().splitlines()]
    assert pairs == [{"a": kept["risk"], "b": answer.get_json()["risk"], "relation": "different",
                      "source": "split", "project": team.id}]
