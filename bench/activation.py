"""Activating a model without a restart: ``python -m bench.activation --model-dir DIR``.

In one process, on a SQLite database and a models root of its own (DIR's files hard-linked
under two versions, v1 and v2, each with the check.json of its built-in scan): the service
starts on v1 and is warmed up (**start**: its model's load and warm-up, the baseline); then
``POST /api/v1/admin/models/v2/activate`` is timed (**activation**: v2's load, check and
warm-up beside v1, the swap) while one scan is held inside v1, so that both models are
resident; the scan is then released and v1 freed. Reported: seconds of each and their
ratio, and the process's resident memory (VmRSS) serving one model, with two resident, and
after the old one left. The raw figures go to ``bench/results.json`` under ``"activation"``
(its other keys are kept). Under a minute on 2 idle cores.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.results import record

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TEXT = "The supplier may deliver the servers three weeks late. The team met on Tuesday."


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError("no VmRSS in /proc/self/status")


class Held:
    """A model's classify, held until ``release``; ``inside``: a scan is in it."""

    def __init__(self, model):
        self.inside, self.release = threading.Event(), threading.Event()
        self._classify = model.classify
        model.classify = self

    def __call__(self, sentences, **options):
        self.inside.set()
        self.release.wait(600)
        return self._classify(sentences, **options)


def models_root(model_dir: Path, workdir: Path) -> Path:
    """v1 and v2: the files of ``model_dir``, each with its check.json; ``current`` names
    v1. The weights are hard-linked (copied across devices); the other files are copied and
    the source's check.json left out: write_check writing through a link rewrote the
    source's (a real model's)."""
    from service.analysis.check import write_check
    from service.analysis.model_folder import CHECK_JSON, CURRENT, SAFETENSORS, point
    from service.analysis.transformer import TransformerAnalyzer, resolve_model_dir
    from testkit.model_folders import copy_version

    source = resolve_model_dir(model_dir)
    root = workdir / "models"
    for name in ("v1", "v2"):
        folder = copy_version(root, name, source, skip={SAFETENSORS, CHECK_JSON})
        write_check(folder, TransformerAnalyzer(folder))
    gc.collect()
    point(root, "v1", CURRENT)
    return root


def admin_app(model_root: Path, workdir: Path, name: str):
    """(the app, its test client, an admin's headers, seconds to its warm-up): the service
    on ``model_root`` and a SQLite file in ``workdir``, warmed up, with an admin signed in
    (bench.shadow measures on the same)."""
    from flask_migrate import upgrade

    from service import create_app
    from service.config import Settings
    from service.db import User
    from service.extensions import db

    settings = Settings.from_env(
        {}, RISKSCAN_ENV="testing", SECRET_KEY=f"bench-{name}-0123456789",
        DATABASE_URL=f"sqlite:///{workdir / 'bench.db'}", MODEL_DIR=str(model_root),
        MODEL_SYNC_S=0, RATE_LIMIT_ENABLED=False, LOG_LEVEL="WARNING",
        UPLOAD_DIR=str(workdir / "uploads"))
    started = time.perf_counter()
    app = create_app(settings)
    assert app.extensions["riskscan.warmup"].done.wait(600), "no warm-up"
    start_s = time.perf_counter() - started
    with app.app_context():
        upgrade()
    client = app.test_client()
    client.post("/api/v1/auth/register", json={"email": "admin@example.com",
                                               "password": "bench-password-123"})
    with app.app_context():
        db.session.query(User).update({"role": "admin"})
        db.session.commit()
    token = client.post("/api/v1/auth/login", json={
        "email": "admin@example.com", "password": "bench-password-123"}).get_json()
    return app, client, {"Authorization": f"Bearer {token['access_token']}"}, start_s


def measure(model_dir: Path, log) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-activation-") as workdir:
        workdir = Path(workdir)
        app, client, headers, start_s = admin_app(models_root(model_dir, workdir), workdir,
                                                  "activation")
        gc.collect()
        one = rss_mb()
        log(f"activation bench: started on v1 in {start_s:.1f} s, {one:.0f} MB")

        held = Held(app.extensions["riskscan.analyzers"].model)
        answer = {}
        scan = threading.Thread(target=lambda: answer.update(
            response=app.test_client().post("/api/v1/scans", json={"text": TEXT},
                                            headers=headers)))
        scan.start()
        held.inside.wait(600)
        began = time.perf_counter()
        activated = client.post("/api/v1/admin/models/v2/activate", headers=headers)
        activation_s = time.perf_counter() - began
        assert activated.status_code == 200, activated.get_json()
        two = rss_mb()
        held.release.set()
        scan.join(600)
        assert answer["response"].get_json()["model_version"] == "v1"
        del held
        gc.collect()
        after = rss_mb()
        log(f"activation bench: v2 active in {activation_s:.1f} s; {two:.0f} MB with both, "
            f"{after:.0f} MB after v1 left")
        return {"start_s": round(start_s, 2), "activation_s": round(activation_s, 2),
                "load_and_check_s": activated.get_json()["load_seconds"],
                "activation_over_start": round(activation_s / start_s, 2),
                "rss_one_model_mb": round(one), "rss_two_models_mb": round(two),
                "rss_after_mb": round(after), "cpus": os.cpu_count()}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.activation")
    parser.add_argument("--model-dir", type=Path,
                        default=Path(os.environ.get("MODEL_DIR") or "models_cache"))
    args = parser.parse_args()
    figures = measure(args.model_dir, lambda message: print(message, file=sys.stderr))
    record("activation", figures)
    print("| start on v1 (s) | activation of v2 (s) | ratio | RSS one model | both | after |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {figures['start_s']} | {figures['activation_s']} | "
          f"{figures['activation_over_start']}× | {figures['rss_one_model_mb']} MB | "
          f"{figures['rss_two_models_mb']} MB | {figures['rss_after_mb']} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
