"""The register's pair model against today's cosine rule: ``python -m bench.register_pairs``.

Issue #77's bound: with a pair model in the models root (its ``pair`` folder), a scan's
register step costs at most **1.3×** what it costs with today's cosine rule. With one, the
embeddings only shortlist (at most ``matching.SHORTLIST`` entries of the finding's category,
at least ``matching.SHORTLIST_FLOOR`` alike) and the cross-encoder reads the finding beside
each one's wording and decides (service/projects/register/matching.py); that is a forward pass of a
second transformer per finding, where the cosine rule is one matrix product. The bound is
read on the register step alone (``register.add_findings``, which runs the matching, timed
by bench/register.py's wrappers); the whole scan's ratio is shown beside it, since that is
what a user waits for.

One process, one app, one database and one project, so that only the rule differs: the
bench makes a models root in a temporary folder (a copy of ``--model-dir``'s fast model,
named by a ``current`` file, and a copy of ``--pair-dir`` as its ``pair`` folder; nothing is
written into models_cache), and both kinds scan into that app, in process, through Flask's
test client. The pair kind is the service as it is. For the cosine kind,
``matching.pair_model`` is asked about an empty folder instead of the models root: it
answers None, as it does for every models root without a ``pair`` folder, and the register
keeps today's rule (the pair model stays loaded, so a round never pays its load). The two
kinds alternate on the same reports and which goes first flips every round; each scan is
deleted after it is timed, so the register keeps its size.

The register and the reports are bench/register.py's (``seed_register``, ``reports``): by
default 10,000 entries, 1,000 a category, each a training sentence's real encoder vector
plus noise (cosine ≈ 0.89 to it), with that sentence as its wording, and the first two
reports' risks among them. Entries of one category are alike enough for a finding to find
a full shortlist (cosine ≥ 0.30) among them, so the pair model really reads pairs: how many
calls it got and how many pairs it scored per scan is reported, and a run where it read
none fails.

These machines are shared and noisy: only the ratios of alternating runs in one process
count (medians of the per-pair ratios). Prints a table; the raw figures go to
``bench/results.json`` under ``"register_pairs"`` (bench/results.py, other keys kept).
A minute or two on 2 cores with the defaults (500 entries and 2 rounds: 20 s). Without a
pair model it says so and measures nothing (``python -m ml.pair_training train --seed 13
--out DIR`` trains one).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

from bench.register import (
    RECURRING_REPORTS,
    SEED_NOISE,
    SEED_SENTENCES,
    Parts,
    log,
    open_project,
    reports,
    seed_register,
    settings_env,
)
from bench.results import record

TARGET = 1.3  # pair model / cosine rule, the register step, at most
TRAINED_PAIRS = Path("pairs", "pairs-s13")  # under the models root: ml.pair_training's, seed 13
KINDS = ("pair", "cosine")


def fast_model(model_dir: str) -> Path:
    """The version folder ``model_dir`` stands for: itself, the one its ``current`` file
    names, or its ``current`` if that is a link to a version folder."""
    from service.analysis.model_folder import CURRENT, is_version
    from service.analysis.transformer import resolve_model_dir

    path = Path(model_dir)
    if not is_version(path) and is_version(path / CURRENT):
        path = path / CURRENT
    return resolve_model_dir(path).resolve()


def default_pair_dir(model_dir: str) -> Path | None:
    """The models root's ``pair`` folder, else its TRAINED_PAIRS, else None."""
    from service.analysis.model_folder import PAIR_FOLDER, is_version

    root = Path(model_dir)
    root = root.parent if is_version(root) else root
    return next((root / name for name in (PAIR_FOLDER, TRAINED_PAIRS)
                 if (root / name).is_dir()), None)


def models_root(workdir: Path, fast: Path, pair: Path) -> Path:
    """A models root of its own: a copy of the fast model, ``current`` naming it, and a copy
    of the pair model as its ``pair`` folder."""
    from service.analysis.model_folder import PAIR_FOLDER, point

    root = workdir / "models"
    root.mkdir()
    shutil.copytree(fast, root / fast.name)
    point(root, fast.name)
    shutil.copytree(pair, root / PAIR_FOLDER)
    return root


class PairParts(Parts):
    """bench/register.py's wrappers (the encoder's embed, ``register.add_findings`` as
    ``match``, ``register._snapshot`` as ``candidates``, the joins), and: which rule a scan
    runs (``kind``), the pair model's calls, pairs scored and seconds (``matching.decide``,
    counted when it asks the model)."""

    def __init__(self, encoder, bare_root: Path):
        from service.projects.register import matching

        super().__init__(encoder)
        self.kind = "pair"
        pair_model, decide = matching.pair_model, matching.decide

        def asked(root):  # the cosine kind: a root without a pair folder, as today's are
            return pair_model(root if self.kind == "pair" else bare_root)

        @functools.wraps(decide)
        def counted(model, text, wordings):
            started = time.perf_counter()
            try:
                return decide(model, text, wordings)
            finally:
                if wordings:
                    self.now["pair_model"] += time.perf_counter() - started
                    self.now["pair_calls"] += 1
                    self.now["pairs"] += len(wordings)

        self._patch(matching, "pair_model", asked)
        self._patch(matching, "decide", counted)


def scan_rounds(client, headers, project_id: str, documents: list[str], rounds: int,
                parts: PairParts) -> dict:
    def scan(document: str, kind: str) -> tuple[float, dict, int, Counter]:
        parts.kind = kind
        parts.take()
        parts.outcomes.clear()
        started = time.perf_counter()
        response = client.post("/api/v1/scans", json={"text": document,
                                                      "project_id": project_id},
                               headers=headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == 201, response.get_json()
        answer = response.get_json()
        spent, outcomes = parts.take(), Counter(parts.outcomes)
        deleted = client.delete(f"/api/v1/scans/{answer['scan_id']}", headers=headers)
        assert deleted.status_code == 204, deleted.get_json()
        return elapsed, spent, len(answer["data"]), outcomes

    for document in documents:  # warm-up: both models' first passes, the snapshot, spaCy
        for kind in KINDS:
            scan(document, kind)
    seconds = {kind: [] for kind in KINDS}
    register_s = {kind: [] for kind in KINDS}
    per_scan = {kind: defaultdict(list) for kind in KINDS}
    scan_ratios, register_ratios = [], []
    for round_ in range(rounds):
        for number, document in enumerate(documents):
            order = KINDS if (round_ + number) % 2 == 0 else KINDS[::-1]
            timed, matched = {}, {}
            for kind in order:
                elapsed, spent, found, outcomes = scan(document, kind)
                timed[kind], matched[kind] = elapsed, spent.get("match", 0.0)
                seconds[kind].append(elapsed)
                register_s[kind].append(matched[kind])
                figures = per_scan[kind]
                figures["findings"].append(found)
                figures["joined"].append(outcomes["joined"])
                figures["opened"].append(outcomes["opened"])
                for name in ("embed", "candidates", "pair_model", "pair_calls", "pairs"):
                    figures[name].append(spent.get(name, 0))
            scan_ratios.append(timed["pair"] / timed["cosine"])
            register_ratios.append(matched["pair"] / matched["cosine"])
        log(f"  round {round_ + 1}: pair / cosine, medians so far: scan "
            f"{statistics.median(scan_ratios):.2f}×, register step "
            f"{statistics.median(register_ratios):.2f}×")
    if not sum(per_scan["pair"]["pair_calls"]):
        raise SystemExit("the pair model read no pair: no finding had a shortlist")
    assert not sum(per_scan["cosine"]["pair_calls"]), "the cosine kind asked the pair model"

    def ratio_of_medians(values: dict) -> float:
        return statistics.median(values["pair"]) / statistics.median(values["cosine"])

    return {
        "rounds": rounds, "reports": len(documents), "pairs_of_scans": len(scan_ratios),
        "scan": {"median_ratio": statistics.median(scan_ratios),
                 "ratio_of_medians": ratio_of_medians(seconds),
                 "median_s": {kind: statistics.median(v) for kind, v in seconds.items()},
                 "ratios": scan_ratios, "seconds": seconds},
        "register_step": {"median_ratio": statistics.median(register_ratios),
                          "ratio_of_medians": ratio_of_medians(register_s),
                          "median_s": {kind: statistics.median(v)
                                       for kind, v in register_s.items()},
                          "ratios": register_ratios, "seconds": register_s},
        "per_scan": {kind: {name: statistics.mean(values) for name, values in figures.items()}
                     for kind, figures in per_scan.items()},
        "per_scan_median_s": {kind: {name: statistics.median(figures[name])
                                     for name in ("embed", "candidates", "pair_model")}
                              for kind, figures in per_scan.items()},
    }


def table(results: dict) -> None:
    scans, machine = results["scans"], results["machine"]
    per, parts = scans["per_scan"], scans["per_scan_median_s"]

    def ms(seconds: float) -> str:
        return f"{seconds * 1000:.0f} ms"

    def verdict(value: float) -> str:
        return "met" if value <= TARGET else "MISSED"

    def found(kind: str) -> str:
        return f"{per[kind]['findings']:.1f}: {per[kind]['joined']:.1f} / {per[kind]['opened']:.1f}"

    scan, step = scans["scan"], scans["register_step"]
    scan_what = (f"POST /api/v1/scans into a project of {results['register']['entries']:,} "
                 f"entries (median of {scans['pairs_of_scans']} pairs, {scans['rounds']} "
                 f"rounds × {scans['reports']} reports)")
    step_what = ("… its register step (register.add_findings: the matching and the writes), "
                 "**the issue's bound**")
    calls = f"{per['pair']['pair_calls']:.1f} / {per['pair']['pairs']:.1f}"
    rows = [
        (scan_what, ms(scan["median_s"]["pair"]), ms(scan["median_s"]["cosine"]),
         f"(≤ {TARGET}×)", scan["median_ratio"], verdict(scan["median_ratio"])),
        (step_what, ms(step["median_s"]["pair"]), ms(step["median_s"]["cosine"]),
         f"≤ {TARGET}×", step["median_ratio"], verdict(step["median_ratio"])),
        ("… of it, the pair model (matching.decide), median a scan",
         ms(parts["pair"]["pair_model"]), "—", "", None, ""),
        ("… of it, the candidates (register._snapshot)", ms(parts["pair"]["candidates"]),
         ms(parts["cosine"]["candidates"]), "", None, ""),
        ("embedding the findings (the encoder), both the same",
         ms(parts["pair"]["embed"]), ms(parts["cosine"]["embed"]), "", None, ""),
        ("pair-model calls / pairs scored, mean a scan", calls, "0 / 0", "", None, ""),
        ("findings a scan: joined an entry / opened one", found("pair"), found("cosine"), "",
         None, ""),
    ]
    print(f"Measured {machine['date']} on {machine['nproc']} cores (load average "
          f"{machine['load_average_at_start']:.1f} at the start), model {machine['model']}, "
          f"pair model {machine['pair_model']} (threshold {machine['pair_threshold']:.3f}), "
          f"encoder {machine['encoder']}, in {machine['seconds']} s. Ratios: medians of the "
          f"per-pair ratios (pair model / cosine rule, the same report).\n")
    print("| what | pair model | cosine rule | target | ratio | verdict |\n"
          "|---|---|---|---|---|---|")
    for what, pair, cosine, target, value, judged in rows:
        print(f"| {what} | {pair} | {cosine} | {target} | "
              f"{'' if value is None else f'{value:.2f}×'} | {judged} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.register_pairs",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", default=os.environ.get("MODEL_DIR") or "models_cache")
    parser.add_argument("--pair-dir", help="the pair model's folder (default: the models "
                        "root's pair, else its pairs/pairs-s13)")
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=8,
                        help="rounds (each scans every report both ways)")
    args = parser.parse_args(argv)

    from flask_migrate import upgrade

    from service import create_app, shutdown
    from service.analysis.model_folder import PAIR_JSON
    from service.config import Settings
    from service.db import User
    from service.extensions import db
    from service.serving.encoder import current_encoder
    from service.serving.holder import current_analyzers

    pair_dir = Path(args.pair_dir) if args.pair_dir else default_pair_dir(args.model_dir)
    if pair_dir is None or not (pair_dir / PAIR_JSON).is_file():
        if args.pair_dir:
            log(f"{args.pair_dir} holds no pair model (no {PAIR_JSON})")
            return 2
        log("register_pairs: no pair model (python -m ml.pair_training train --seed 13 "
            "--out DIR, then --pair-dir DIR); nothing to measure")
        return 0
    fast = fast_model(args.model_dir)
    started = time.time()
    load_average = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="riskscan-bench-register-pairs-") as tmp:
        workdir = Path(tmp)
        root = models_root(workdir, fast, pair_dir.resolve())
        (workdir / "no-pair").mkdir()
        threshold = json.loads((pair_dir / PAIR_JSON).read_text())["threshold"]
        app = create_app(Settings.from_env(settings_env(workdir, str(root))))
        try:
            with app.app_context():
                upgrade()
            client = app.test_client()
            owner, project_id = open_project(client, "Bench register pairs")
            made = reports()
            with app.app_context():
                model_version = current_analyzers().pick(False).version
                owner_id = db.session.scalar(db.select(User.id).where(
                    User.email == "bench-owner@example.com"))
                log(f"seeding {args.entries:,} register entries (model {model_version}, "
                    f"pair model {pair_dir})")
                seed_started = time.perf_counter()
                seed_register(project_id, owner_id, model_version, args.entries,
                              [risk for _, risks in made[:RECURRING_REPORTS] for risk in risks])
                seed_s = time.perf_counter() - seed_started
                encoder = current_encoder()
            log(f"POST /api/v1/scans into the project, pair model against cosine rule, "
                f"{args.rounds} rounds")
            parts = PairParts(encoder, workdir / "no-pair")
            try:
                scans = scan_rounds(client, owner, project_id,
                                    [document for document, _ in made], args.rounds, parts)
            finally:
                parts.close()
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
        finally:
            shutdown(app)

    results = {
        "machine": {"nproc": os.cpu_count(),
                    "date": datetime.now(UTC).isoformat(timespec="seconds"),
                    "model": fast.name, "pair_model": str(pair_dir),
                    "pair_threshold": threshold, "encoder": encoder.name,
                    "load_average_at_start": load_average,
                    "seconds": round(time.time() - started)},
        "register": {"entries": args.entries, "seed_s": seed_s,
                     "embeddings": f"{SEED_SENTENCES} encoder vectors per category + noise "
                                   f"of norm {SEED_NOISE}, normalised"},
        "target": {"register_step_ratio_at_most": TARGET},
        "scans": scans,
    }
    record("register_pairs", results)
    table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
