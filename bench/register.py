"""The risk register's throughput targets: ``python -m bench.register``.

1. **A scan into a project** (POST /api/v1/scans with ``project_id``) whose register holds
   10,000 entries costs ≤ 1.2× the same scan without a project. In process, through Flask's
   test client, on the real trained model (``--model-dir``, ``MODEL_DIR``, default
   models_cache) and the real sentence encoder: a scan into a project also embeds its
   findings (service/analysis/embedding.py) and matches them against the project's entries
   of their categories (service/projects/register/entries.py); both are part of what is measured,
   and their shares are reported (the encoder's ``embed`` and ``register.add_findings``,
   ``_snapshot`` inside it: the directions, from this process's snapshot or the database, timed by wrappers that add microseconds). The two kinds
   alternate (which goes first flips every round) on the same 20-sentence status reports:
   6 risks of different categories and 14 other sentences of ml/data/test.jsonl, one a
   line, four reports. Each scan is deleted after it is timed, so that the register stays
   at 10,000 entries: the project's scans leave their entries as they were (each seeded
   entry has a finding of its own, so it is recomputed from it, not deleted).
2. **The register listing** (GET /api/v1/projects/{id}/risks?per_page=20, the default sort
   ``-last_seen``) on that register stays ≥ 0.5× a bare Flask app, as GET /api/v1/scans
   does. Over HTTP on waitress with 4 client threads, the way bench/http.py measures the
   scans list, with its ``Server``, ``service`` and ``load``: the service on the same
   SQLite file, against two bare apps, bench/bare_app.py as it is (an empty list: the
   scans list's baseline) and that app with a route answering the same 20-entry page the
   service answered (the comparable page: its JSON encoding included). GET
   /api/v1/scans (a user with 10 scans) runs in the same turns, for today's figure.

3. **The report's suggestions** (issue #85): after each scan into the project, the report's
   changes are read as a PM reads them (GET /api/v1/projects/{id}/changes), which ranks the
   restatements each new entry may be (service/projects/register/suggestions.py); their time
   (``suggestions.for_entries``) beside the register step's (``register.add_findings``) is
   at most 1.3× that step together.

The register (10,000 entries, 1,000 per risk category, inserted directly: 200 scans of 50
findings each, one finding and one link per entry, as a register built by scans would hold
them; statuses open and mitigating, seen over the past year). Its embeddings are **real
encoder vectors, perturbed**: 50 training sentences per category (ml/data/train.jsonl, none
of them in the reports) embedded by the service's encoder, and each entry one of them plus
Gaussian noise (norm 0.5, cosine ≈ 0.89 to its sentence), normalised. Not random unit
vectors: in 384 dimensions those are all ≈ 0 alike with every finding, so every finding
would open a new entry, while a real register's findings often join one; the cost of the
matrix product is the same either way, the path after it is not. The risks of the first two
reports were reported before: each has an entry of its own among the 10,000 (its vector plus
noise of norm 0.3), so their findings join one when the model gives the same category; the
other two reports' risks are new. How many findings joined an entry and how many opened one
is reported.

These machines are shared and noisy: only the ratios of alternating runs in one process
count. Prints a table; the raw figures go to ``bench/results.json`` under ``"register"``
(the file ``python -m bench`` writes; its other keys are kept). About 2–3 minutes on
2 cores.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ROOT / "ml" / "data" / "train.jsonl"
TEST = ROOT / "ml" / "data" / "test.jsonl"
SECRET_KEY = "bench-secret-key-0123456789"  # bench/http.py's: the service reads our tokens
SCAN_TARGET = 1.2  # project / no project, at most
SUGGEST_TARGET = 1.3  # (the register step + the report's suggestions) / the register step
LIST_TARGET = 0.5  # listing / bare app, at least
SEED_SENTENCES = 50  # per category, embedded by the encoder
SEED_NOISE = 0.5  # norm of the noise added to each
RECURRING_NOISE = 0.3  # the same for the risks of the reports seen before
RECURRING_REPORTS = 2  # the first two reports' risks have entries; the others' are new
SEED_SCANS = 200


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def reports(count: int = 4, seed: int = 7) -> list[tuple[str, list[tuple[str, str]]]]:
    """20-sentence status reports: 6 risks of different categories and 14 other sentences of
    ml/data/test.jsonl, one a line; each with its risks as (sentence, category)."""
    from service.analysis.labels import RISK_LABELS

    rng = random.Random(seed)
    by_label = defaultdict(list)
    for row in _lines(TEST):
        by_label[row["label"]].append(row["text"])
    for texts in by_label.values():
        rng.shuffle(texts)
    documents = []
    for index in range(count):
        risks = [(by_label[category][index], category)
                 for category in rng.sample(RISK_LABELS, 6)]
        lines = [text for text, _ in risks] + by_label["none"][index * 14:(index + 1) * 14]
        rng.shuffle(lines)
        documents.append(("\n".join(lines), risks))
    return documents


# ---------------------------------------------------------------------------------------
# The app, the accounts and the register


def settings_env(workdir: Path, model_dir: str) -> dict[str, str]:
    """bench/http.py's service settings, for the app in this process."""
    return {"RISKSCAN_ENV": "production", "SECRET_KEY": SECRET_KEY,
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
            "UPLOAD_DIR": str(workdir / "up"), "MODEL_DIR": model_dir, "MODEL_DEVICE": "cpu",
            "RATE_LIMIT_ENABLED": "false", "LOG_LEVEL": "WARNING", "HOST": "127.0.0.1"}


def login(client, email: str) -> dict[str, str]:
    from bench.http import PASSWORD

    account = {"email": email, "password": PASSWORD}
    assert client.post("/api/v1/auth/register", json=account).status_code == 201
    response = client.post("/api/v1/auth/login", json=account)
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def open_project(client, name: str) -> tuple[dict[str, str], str]:
    """The bench owner's headers, and a new project of theirs named ``name``."""
    owner = login(client, "bench-owner@example.com")
    response = client.post("/api/v1/projects", json={"name": name}, headers=owner)
    assert response.status_code == 201, response.get_json()
    return owner, response.get_json()["id"]


def seed_register(project_id: str, user_id: str, model_version: str, entries: int,
                  recurring: list[tuple[str, str]], seed: int = 11) -> None:
    """``entries`` register entries over the ten categories, each with the scan finding and
    the link a scan would have left (module docstring); ``recurring`` (sentence, category)
    are among them, as risks reported before. In the app context."""
    import numpy as np

    from service.analysis.embedding import to_bytes
    from service.analysis.labels import RISK_LABELS
    from service.db import RegisterEntry, RegisterLink, RegisterVector, Scan, ScanFinding
    from service.extensions import db
    from service.serving.encoder import current_encoder

    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    by_label = defaultdict(list)
    for row in _lines(TRAIN):
        by_label[row["label"]].append(row["text"])
    sentences = {label: rng.sample(by_label[label], SEED_SENTENCES) for label in RISK_LABELS}
    encoder = current_encoder()
    bases = {label: encoder.embed(texts) for label, texts in sentences.items()}
    # Entry index -> (sentence, its vector, noise): risks reported before, then the rest.
    chosen = {}
    for (text, label), vector in zip(recurring, encoder.embed([t for t, _ in recurring])):
        index = RISK_LABELS.index(label)
        while index in chosen:
            index += len(RISK_LABELS)
        chosen[index] = (text, vector, RECURRING_NOISE)

    now = datetime.now(UTC)
    scan_times = sorted(now - timedelta(days=365) + timedelta(days=365 * rng.random())
                        for _ in range(SEED_SCANS))
    scans = [{"id": str(uuid.uuid4()), "user_id": user_id, "project_id": project_id,
              "source": "model", "model_version": model_version, "text_length": 4000,
              "dropped": 0, "created_at": at} for at in scan_times]
    findings, register, vectors, links = [], [], [], []
    per_scan = -(-entries // SEED_SCANS)
    for index in range(entries):
        label = RISK_LABELS[index % len(RISK_LABELS)]
        which = rng.randrange(SEED_SENTENCES)
        text, vector, norm = chosen.get(index, (sentences[label][which], bases[label][which],
                                                SEED_NOISE))
        vector = vector + noise.normal(size=encoder.dimensions).astype(
            np.float32) * (norm / encoder.dimensions ** 0.5)
        vector /= np.linalg.norm(vector)
        scan = scans[index // per_scan]
        ident = index + 1
        findings.append({"id": ident, "scan_id": scan["id"], "position": index % per_scan,
                         "risk": text, "category": label, "context": text, "score": 0.9,
                         "start_offset": 0, "end_offset": len(text)})
        register.append({"id": ident, "project_id": project_id, "risk": text,
                         "category": label,
                         "status": "mitigating" if rng.random() < 0.2 else "open",
                         "first_seen": scan["created_at"], "last_seen": scan["created_at"],
                         "occurrences": 1, "reopened": False,
                         "created_at": scan["created_at"], "updated_at": scan["created_at"]})
        vectors.append({"entry_id": ident, "total": to_bytes(vector)})
        links.append({"finding_id": ident, "entry_id": ident, "scan_id": scan["id"],
                      "seen_at": scan["created_at"], "embedding": to_bytes(vector)})
    counts = defaultdict(Counter)
    for finding in findings:
        counts[finding["scan_id"]][finding["category"]] += 1
    for scan in scans:
        scan["category_counts"] = [list(item) for item in counts[scan["id"]].items()]
    for model, rows in ((Scan, scans), (ScanFinding, findings), (RegisterEntry, register),
                        (RegisterVector, vectors), (RegisterLink, links)):
        db.session.execute(model.__table__.insert(), rows)
    db.session.commit()


# ---------------------------------------------------------------------------------------
# 1. A scan into a project against the same scan without one


class Parts:
    """Seconds spent in the encoder's embed, in the register's add_findings and in its
    candidate loading (``entries._snapshot``), and in the suggestions for a report's new
    entries (``register.for_entries``, what its changes read), per request: wrappers around
    the service's functions."""

    def __init__(self, encoder):
        from service.projects import register
        from service.projects.register import entries, matching

        self.now: Counter = Counter()
        self.outcomes: Counter = Counter()
        self._undo = []

        def timed(name, function):
            @functools.wraps(function)
            def wrapper(*args, **kwargs):
                started = time.perf_counter()
                try:
                    return function(*args, **kwargs)
                finally:
                    self.now[name] += time.perf_counter() - started
            return wrapper

        self._patch(encoder, "embed", timed("embed", encoder.embed))
        self._patch(entries, "add_findings", timed("match", entries.add_findings))
        self._patch(entries, "_snapshot", timed("candidates", entries._snapshot))
        self._patch(register, "for_entries", timed("suggest", register.for_entries))
        closest = matching.closest

        def counted(*args, **kwargs):
            join = closest(*args, **kwargs)
            self.outcomes["joined" if join.entry is not None else "opened"] += 1
            return join
        self._patch(matching, "closest", counted)

    def _patch(self, owner, name, value):
        own = vars(owner).get(name) if isinstance(owner, type) else getattr(owner, name)
        self._undo.append((owner, name, own))
        setattr(owner, name, value)

    def take(self) -> dict[str, float]:
        taken, self.now = dict(self.now), Counter()
        return taken

    def close(self) -> None:
        for owner, name, value in reversed(self._undo):
            setattr(owner, name, value)


def scan_rounds(client, headers, project_id: str, documents: list[str], rounds: int,
                parts: Parts) -> dict:
    def scan(document: str, into: str | None) -> tuple[float, dict, int]:
        body = {"text": document} if into is None else {"text": document, "project_id": into}
        parts.take()
        started = time.perf_counter()
        response = client.post("/api/v1/scans", json=body, headers=headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == 201, response.get_json()
        answer = response.get_json()
        if into is not None:  # what the PM reads next: the report's changes, suggestions in
            changed = client.get(f"/api/v1/projects/{into}/changes?to_scan="
                                 f"{answer['scan_id']}", headers=headers)
            assert changed.status_code == 200, changed.get_json()
        spent = parts.take()
        deleted = client.delete(f"/api/v1/scans/{answer['scan_id']}", headers=headers)
        assert deleted.status_code == 204, deleted.get_json()
        return elapsed, spent, len(answer["data"])

    for document in documents:  # warm-up: the encoder's first passes, spaCy, allocator
        scan(document, project_id)
        scan(document, None)
    parts.outcomes.clear()
    seconds = {"project": [], "none": []}
    ratios, spent, findings = [], defaultdict(list), []
    for round_ in range(rounds):
        for number, document in enumerate(documents):
            kinds = ("project", "none") if (round_ + number) % 2 == 0 else ("none", "project")
            timed = {}
            for kind in kinds:
                elapsed, parts_spent, found = scan(document, project_id if kind == "project"
                                                   else None)
                timed[kind] = elapsed
                seconds[kind].append(elapsed)
                if kind == "project":
                    findings.append(found)
                    for name in ("embed", "match", "candidates", "suggest"):
                        spent[name].append(parts_spent.get(name, 0.0))
            ratios.append(timed["project"] / timed["none"])
        log(f"  round {round_ + 1}: project / none, median so far "
            f"{statistics.median(ratios):.2f}×")
    return {
        "rounds": rounds, "reports": len(documents), "pairs": len(ratios),
        "median_ratio": statistics.median(ratios),
        "ratio_of_medians": statistics.median(seconds["project"])
        / statistics.median(seconds["none"]),
        "median_s": {kind: statistics.median(values) for kind, values in seconds.items()},
        "parts_median_s": {name: statistics.median(values) for name, values in spent.items()},
        "findings_per_scan": statistics.mean(findings),
        "findings_joined": parts.outcomes["joined"] / max(1, len(findings)),
        "findings_opened": parts.outcomes["opened"] / max(1, len(findings)),
        "ratios": ratios, "seconds": seconds,
    }


# ---------------------------------------------------------------------------------------
# 2. The listing against a bare Flask app


def serve_bare_page(page_file: str) -> None:
    """bench/bare_app.py's app, with the register listing's route answering the page in
    ``page_file``; served as bench/bare_app.py serves it."""
    from flask import jsonify
    from waitress import serve

    from bench.bare_app import app

    page = json.loads(Path(page_file).read_text(encoding="utf-8"))

    @app.get("/api/v1/projects/<project_id>/risks")
    def risks(project_id):
        return jsonify(page)

    serve(app, host="127.0.0.1", port=int(os.environ["PORT"]),
          threads=int(os.environ.get("WAITRESS_THREADS", "8")), ident="riskscan")


def list_rounds(model_dir: str, workdir: Path, project_id: str, owner: dict, lister: dict,
                entries: int, rounds: int, seconds: float) -> dict:
    import requests

    from bench.http import Server, load, service

    servers = {}
    try:
        servers["service"] = service(model_dir, workdir)
        risks = f"{servers['service'].url}/api/v1/projects/{project_id}/risks?per_page=20"
        response = requests.get(risks, headers=owner, timeout=30)
        response.raise_for_status()
        page = response.json()
        assert len(page["items"]) == 20 and page["total"] == entries, page["total"]
        page_file = workdir / "page.json"
        page_file.write_text(json.dumps(page), encoding="utf-8")
        servers["bare"] = Server(["-m", "bench.bare_app"], {}, ready_path="/health")
        servers["bare page"] = Server(["-m", "bench.register", "--serve-bare-page",
                                       str(page_file)], {}, ready_path="/health")
        bare_risks = f"{servers['bare page'].url}/api/v1/projects/{project_id}/risks?per_page=20"
        page_bytes = len(response.content)

        def get(url, headers):
            return lambda session, i: session.get(url, headers=headers, timeout=30)

        targets = {
            "risks": get(risks, owner),
            "bare page": get(bare_risks, owner),
            "scans": get(f"{servers['service'].url}/api/v1/scans", lister),
            "bare": get(f"{servers['bare'].url}/api/v1/scans", lister),
        }
        for target in targets.values():
            load(4, 1, target)
        totals = {name: [0, 0.0] for name in targets}
        per_round = {name: [] for name in targets}
        for round_ in range(rounds):
            for name in list(targets)[::-1 if round_ % 2 else 1]:
                count, elapsed, _ = load(4, seconds, targets[name])
                totals[name][0] += count
                totals[name][1] += elapsed
                per_round[name].append(count / elapsed)
            log(f"  round {round_ + 1}: " + ", ".join(
                f"{name} {values[-1]:.0f}" for name, values in per_round.items()) + " req/s")
    finally:
        for server in servers.values():
            server.stop()

    def ratios(mine, theirs):
        return [a / b for a, b in zip(per_round[mine], per_round[theirs], strict=True)]

    return {
        "rounds": rounds, "seconds_per_turn": seconds, "clients": 4, "page_bytes": page_bytes,
        "rps": {name: count / elapsed for name, (count, elapsed) in totals.items()},
        "rps_per_round": per_round,
        "median_ratio": {"risks / bare page": statistics.median(ratios("risks", "bare page")),
                         "risks / bare": statistics.median(ratios("risks", "bare")),
                         "scans / bare": statistics.median(ratios("scans", "bare"))},
    }


# ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.register",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", default=os.environ.get("MODEL_DIR") or "models_cache")
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=8,
                        help="scan rounds (each scans every report both ways)")
    parser.add_argument("--list-rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4, help="per listing target and round")
    parser.add_argument("--profile", metavar="HTML",
                        help="also profile the scans into the project (pyinstrument) to HTML")
    parser.add_argument("--output", default="bench/results.json",
                        help="JSON file; its key 'register' is replaced, the others kept")
    parser.add_argument("--serve-bare-page", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare_page:
        serve_bare_page(args.serve_bare_page)
        return 0

    from flask_migrate import upgrade

    from service import create_app
    from service.analysis.transformer import resolve_model_dir
    from service.config import Settings
    from service.db import User
    from service.extensions import db
    from service.serving.encoder import current_encoder
    from service.serving.holder import current_analyzers

    model_dir = str(resolve_model_dir(args.model_dir).resolve())
    started = time.time()
    load_average = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="riskscan-bench-register-") as tmp:
        workdir = Path(tmp)
        app = create_app(Settings.from_env(settings_env(workdir, model_dir)))
        with app.app_context():
            upgrade()
        client = app.test_client()
        owner, project_id = open_project(client, "Bench register")
        lister = login(client, "bench-lister@example.com")
        made = reports()
        documents = [document for document, _ in made]
        with app.app_context():
            model_version = current_analyzers().pick(False).version
            owner_id = db.session.scalar(db.select(User.id).where(
                User.email == "bench-owner@example.com"))
            log(f"seeding {args.entries:,} register entries (model {model_version})")
            seed_started = time.perf_counter()
            seed_register(project_id, owner_id, model_version, args.entries,
                          [risk for _, risks in made[:RECURRING_REPORTS] for risk in risks])
            seed_s = time.perf_counter() - seed_started
            encoder = current_encoder()
        for document in documents[:10] * 3:  # the scans list's user: 10 scans, as bench/http.py
            if client.get("/api/v1/scans", headers=lister).get_json()["total"] >= 10:
                break
            assert client.post("/api/v1/scans", json={"text": document},
                               headers=lister).status_code == 201

        log(f"1. POST /api/v1/scans into the project against without, {args.rounds} rounds")
        parts = Parts(encoder)
        try:
            scans = scan_rounds(client, owner, project_id, documents, args.rounds, parts)
            if args.profile:
                from pyinstrument import Profiler

                with Profiler(interval=0.0005) as profiler:
                    for document in documents * 3:
                        answer = client.post("/api/v1/scans", headers=owner, json={
                            "text": document, "project_id": project_id}).get_json()
                        client.delete(f"/api/v1/scans/{answer['scan_id']}", headers=owner)
                Path(args.profile).write_text(profiler.output_html(), encoding="utf-8")
                log(f"profile written to {args.profile}")
        finally:
            parts.close()
        total = client.get(f"/api/v1/projects/{project_id}/risks?per_page=1",
                           headers=owner).get_json()["total"]
        with app.app_context():
            db.session.remove()
            db.engine.dispose()

        log(f"2. GET /api/v1/projects/{{id}}/risks over HTTP against bare Flask apps, "
            f"{args.list_rounds} rounds")
        listing = list_rounds(model_dir, workdir, project_id, owner, lister, total,
                              args.list_rounds, args.seconds)

    results = {
        "machine": {"nproc": os.cpu_count(),
                    "date": datetime.now(UTC).isoformat(timespec="seconds"),
                    "model": Path(model_dir).name, "encoder": encoder.name,
                    "load_average_at_start": load_average,
                    "seconds": round(time.time() - started)},
        "register": {"entries": args.entries, "entries_after": total, "seed_s": seed_s,
                     "embeddings": f"{SEED_SENTENCES} encoder vectors per category + noise "
                                   f"of norm {SEED_NOISE}, normalised"},
        "scan": scans, "listing": listing,
    }
    output = Path(args.output)
    stored = {}
    with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
        stored = json.loads(output.read_text(encoding="utf-8"))
    stored["register"] = results
    output.write_text(json.dumps(stored, indent=2) + "\n", encoding="utf-8")

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.0f}"

    def verdict(ok: bool) -> str:
        return "meets" if ok else "MISSES"

    parts_s = scans["parts_median_s"]
    suggest_ratio = (parts_s["match"] + parts_s["suggest"]) / parts_s["match"]
    rps = listing["rps"]
    ratio = listing["median_ratio"]
    scan_what = (f"POST /api/v1/scans into a project of {args.entries:,} entries vs without "
                 f"(median of {scans['pairs']} pairs, {scans['rounds']} rounds × "
                 f"{scans['reports']} reports)")
    parts_measured = (f"{ms(parts_s['embed'])} / {ms(parts_s['match'])} "
                      f"({ms(parts_s['candidates'])}) ms; {scans['findings_per_scan']:.1f} "
                      f"findings: {scans['findings_joined']:.1f} joined an entry, "
                      f"{scans['findings_opened']:.1f} opened one")
    page_what = (f"GET /api/v1/projects/{{id}}/risks?per_page=20 vs bare app, same page "
                 f"({listing['page_bytes']:,} bytes)")
    rows = [
        (scan_what,
         f"{ms(scans['median_s']['project'])} vs {ms(scans['median_s']['none'])} ms",
         f"≤ {SCAN_TARGET}×", scans["median_ratio"],
         verdict(scans["median_ratio"] <= SCAN_TARGET)),
        (("… of the project's scan: embedding the findings / register.add_findings (of it, "
          "loading the candidates), medians"), parts_measured, "", None, ""),
        (("The report's suggestions (suggestions.for_entries, read by GET …/changes) beside "
          "the register step (register.add_findings): (step + suggestions) / step"),
         f"{ms(parts_s['suggest'])} + {ms(parts_s['match'])} ms", f"≤ {SUGGEST_TARGET}×",
         suggest_ratio, verdict(suggest_ratio <= SUGGEST_TARGET)),
        (page_what, f"{rps['risks']:.0f} vs {rps['bare page']:.0f} req/s", f"≥ {LIST_TARGET}×",
         ratio["risks / bare page"], verdict(ratio["risks / bare page"] >= LIST_TARGET)),
        ("GET /api/v1/projects/{id}/risks vs bare app, empty list (the scans list's baseline)",
         f"{rps['risks']:.0f} vs {rps['bare']:.0f} req/s", f"≥ {LIST_TARGET}×",
         ratio["risks / bare"], verdict(ratio["risks / bare"] >= LIST_TARGET)),
        ("GET /api/v1/scans (10 scans) vs bare app, empty list: today's figure, same run",
         f"{rps['scans']:.0f} vs {rps['bare']:.0f} req/s", f"≥ {LIST_TARGET}×",
         ratio["scans / bare"], verdict(ratio["scans / bare"] >= LIST_TARGET)),
    ]
    machine = results["machine"]
    print(f"Measured {machine['date']} on {machine['nproc']} cores (load average "
          f"{load_average:.1f} at the start), model {machine['model']}, encoder "
          f"{machine['encoder']}, in {machine['seconds']} s; register {args.entries:,} entries "
          f"({total:,} after the rounds); listing: {listing['clients']} clients over HTTP, "
          f"{listing['rounds']} rounds of {listing['seconds_per_turn']:.0f} s per target. "
          f"Ratios: medians of per-round (per-pair) ratios.\n")
    print("| what | measured | target | ratio | verdict |\n|---|---|---|---|---|")
    for what, measured, target, value, judged in rows:
        print(f"| {what} | {measured} | {target} | "
              f"{'' if value is None else f'{value:.2f}×'} | {judged} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
