"""The CPU path runs without torch and transformers: a service that starts, warms up and
scans, with the fast model alone and with a reader behind it, never imports them (torch's
import alone holds ≈275 MB; bench/memory.py measures the whole process)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from service.analysis.embedding import SentenceEncoder
from service.analysis.model_folder import SCREEN_JSON

ROOT = Path(__file__).resolve().parent.parent

SERVE_AND_SCAN = """
import json, sys
from service import create_app
from service.config import Settings
from flask_migrate import upgrade

def scan(workdir, **models):
    settings = Settings.from_env({}, RISKSCAN_ENV="testing", MODEL_DEVICE="auto",
                                 SECRET_KEY="test-secret-key-0123456789", LOG_LEVEL="WARNING",
                                 DATABASE_URL=f"sqlite:///{workdir}/{len(models)}.db",
                                 UPLOAD_DIR=f"{workdir}/uploads", **models)
    app = create_app(settings)
    assert app.extensions["riskscan.warmup"].done.wait(600)
    assert app.extensions["riskscan.warmup"].error is None, app.extensions["riskscan.warmup"].error
    with app.app_context():
        upgrade()
    client = app.test_client()
    account = {"email": "cpu@example.com", "password": "correct horse battery"}
    client.post("/api/v1/auth/register", json=account)
    token = client.post("/api/v1/auth/login", json=account).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    project = client.post("/api/v1/projects", json={"name": "CPU path"}, headers=headers)
    scanned = client.post("/api/v1/scans", headers=headers, json={
        "text": "Risks\\nThe vendor may deliver the servers late. The team met on Tuesday.",
        "project_id": project.get_json()["id"]})  # into a project: its register embeds
    return scanned.status_code, scanned.get_json()["model_version"]

workdir, model, reader = sys.argv[1:]
fast = scan(workdir, MODEL_DIR=model, READER_DIR="off")
cascade = scan(workdir, MODEL_DIR=model, READER_DIR=reader, READER_QUANTIZE="int8")
print(json.dumps({"scans": [fast, cascade],
                  "loaded": sorted(m for m in ("torch", "transformers") if m in sys.modules)}))
"""


def test_a_service_on_the_cpu_starts_and_scans_without_torch_or_transformers(
        scan_model_dir, tmp_path) -> None:
    SentenceEncoder()  # the register's encoder: its graph made once (with torch), and kept
    reader = tmp_path / "reader"
    reader.mkdir()
    for source in Path(scan_model_dir).iterdir():
        if source.is_file() and source.name not in ("calibration.json", SCREEN_JSON):
            shutil.copy(source, reader / source.name)
    (reader / SCREEN_JSON).write_text(json.dumps({"screen": 0.1}))

    done = subprocess.run([sys.executable, "-c", SERVE_AND_SCAN, str(tmp_path),
                           str(scan_model_dir), str(reader)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, check=False)

    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.splitlines()[-1])
    version = Path(scan_model_dir).name
    assert result["scans"] == [[201, version], [201, f"{version}+reader"]]
    assert result["loaded"] == []
