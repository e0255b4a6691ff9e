"""How many findings a user no longer has to dismiss again: ``python -m bench.dismissals``.

A project's reports are scanned into it in their order (in process, through the API, on the
real trained model, ``--model-dir``, and the real sentence encoder), and after each one a
member corrects to ``none``, for "this report and later ones" (``scope: later``), every
finding that is not a risk by its gold label: a dismissal.
A later finding that a dismissal keeps out (``dismissed: true``) is one the member no longer
has to dismiss again, if its gold label is ``none``; if it is a risk, a dismissal hid it.
Without dismissals the member would have dismissed every gold-``none`` finding of every
report.

Two sets:

- ``seed``: the three weekly reports ``flask seed`` scans into its demo project
  (service/seed.py), with gold labels given here, sentence by sentence.
- ``aswf``: consecutive meeting minutes of one project, the Academy Software Foundation's
  technical advisory council (``--minutes``, /work/shared/data/aswf-tac-minutes: CC BY 4.0,
  attribution Academy Software Foundation TAC), from ``--since`` to ``--until`` (never 2023
  or later: those minutes are reserved for evaluation). Gold labels are the project's own
  labelled sentences of those minutes (ml/data/sources/aswf-tac-minutes.jsonl); a finding
  whose sentence is not among them is not judged: the member leaves it alone (so the figures
  are a lower bound), and how many findings a dismissal kept out unjudged is printed apart.

Prints a table per set and writes the figures to ``bench/results.json`` under
``"dismissals"`` (other keys kept).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.results import record

REPO = Path(__file__).resolve().parent.parent
MINUTES = Path("/work/shared/data/aswf-tac-minutes/minutes.jsonl")
LABELS = REPO / "ml" / "data" / "sources" / "aswf-tac-minutes.jsonl"
RESERVED_FROM = "2023"  # ASWF TAC minutes from 2023 on: reserved evaluation data

# The seed's weekly reports, sentence by sentence: `none` where the sentence states no risk.
SEED_GOLD = {
    "The data migration is on track for the dress rehearsal.": "none",
    "The vendor has not yet delivered the test environment, and the go-live date of 1 June "
    "is at risk.": "vendor",
    "Only one engineer knows the legacy interfaces, and she is on leave for most of May.":
        "resource",
    "Licence costs for the reporting tool rose by 30 percent, which the budget does not "
    "cover.": "budget",
    "The dress rehearsal moved to the second week of May.": "none",
    "The test environment from the vendor is still missing, so the 1 June go-live could "
    "slip.": "vendor",
    "The only engineer who knows the old interfaces will be away for most of May.": "resource",
    "Finance approved the extra licence costs for the reporting tool.": "none",
    "The vendor delivered the test environment on Monday, but it is two weeks late and the "
    "go-live of 1 June is still in doubt.": "vendor",
    "Nobody else has learned the legacy interfaces while their only expert is on leave in "
    "May.": "resource",
    "The penetration test found that customer passwords are stored with an outdated hashing "
    "scheme.": "security",
}


def plain(sentence: str) -> str:
    return re.sub(r"\s+", " ", sentence).strip()


def seed_set() -> tuple[list[tuple[str, str]], dict[str, str]]:
    from service.seed import WEEKLY_REPORTS

    return list(WEEKLY_REPORTS), {plain(text): label for text, label in SEED_GOLD.items()}


def aswf_set(minutes: Path, since: str, until: str) -> tuple[list[tuple[str, str]],
                                                            dict[str, str]]:
    if until >= RESERVED_FROM:
        raise SystemExit(f"--until {until}: minutes from {RESERVED_FROM} on are reserved")
    reports = []
    for line in minutes.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        day = Path(row["path"]).stem
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", day) and since <= day <= until:
            reports.append((day, row["text"]))
    gold = {}
    for line in LABELS.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        gold[plain(row["text"])] = row["label"]
    return sorted(reports), gold


def run(client, member, name: str, reports, gold) -> dict:
    """Scan ``reports`` into a new project in order, dismissing each gold-none finding."""
    headers = member()
    response = client.post("/api/v1/projects", json={"name": name}, headers=headers)
    assert response.status_code == 201, response.get_json()
    project_id = response.get_json()["id"]
    counts = Counter()
    for title, text in reports:
        headers = member()  # a fresh token a report: a run outlasts one (30 minutes)
        response = client.post("/api/v1/scans", headers=headers,
                               json={"text": text, "project_id": project_id})
        assert response.status_code == 201, response.get_json()
        scan = response.get_json()
        counts["reports"] += 1
        for finding in scan["data"]:
            label = gold.get(plain(finding["risk"]))
            judged = "unjudged" if label is None else ("none" if label == "none" else "risk")
            counts["findings"] += 1
            counts[f"findings {judged}"] += 1
            if finding["dismissed"]:
                counts[f"kept out, {judged}"] += 1
            elif judged == "none":
                response = client.patch(
                    f"/api/v1/scans/{scan['scan_id']}/findings/{finding['id']}",
                    json={"category": "none", "scope": "later"}, headers=headers)
                assert response.status_code == 200, response.get_json()
                counts["dismissed by the member"] += 1
        print(f"  {title}: {len(scan['data'])} findings; so far {dict(counts)}",
              file=sys.stderr)
    counts["dismissals without the feature"] = counts["findings none"]
    return dict(counts)


def table(name: str, figures: dict) -> None:
    print(f"\n{name}")
    for key, value in sorted(figures.items()):
        print(f"  {key:34} {value:6}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dismissals",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", default=os.environ.get("MODEL_DIR") or "models_cache")
    parser.add_argument("--minutes", type=Path, default=MINUTES)
    parser.add_argument("--since", default="2022-01-01")
    parser.add_argument("--until", default="2022-12-31")
    args = parser.parse_args(argv)

    from flask_migrate import upgrade

    from bench.http import PASSWORD
    from bench.register import login, settings_env
    from service import create_app
    from service.analysis.transformer import resolve_model_dir
    from service.config import Settings

    sets = {"seed": seed_set(), "aswf": aswf_set(args.minutes, args.since, args.until)}
    model_dir = str(resolve_model_dir(args.model_dir).resolve())
    started = time.time()
    figures = {"model_dir": model_dir, "since": args.since, "until": args.until}
    with tempfile.TemporaryDirectory(prefix="riskscan-bench-dismissals-") as tmp:
        app = create_app(Settings.from_env(settings_env(Path(tmp), model_dir)))
        with app.app_context():
            upgrade()
        client = app.test_client()
        login(client, "bench-member@example.com")

        def member() -> dict[str, str]:
            response = client.post("/api/v1/auth/login", json={
                "email": "bench-member@example.com", "password": PASSWORD})
            return {"Authorization": f"Bearer {response.get_json()['access_token']}"}

        for name, (reports, gold) in sets.items():
            print(f"{name}: {len(reports)} reports", file=sys.stderr)
            figures[name] = run(client, member, name, reports, gold)
            table(name, figures[name])
    figures["seconds"] = round(time.time() - started)
    record("dismissals", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
