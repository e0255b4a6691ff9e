"""The CPU image's runtime has neither torch nor transformers (Dockerfile.cpu ships the
virtualenv of requirements-serve.txt, and requirements-encoder.txt's package without its
dependencies): the CPU serving path must work without them.

The image itself is built and checked by .ci/image (`import torch` fails in it, and it
serves); these tests hold the requirements and the code to it on every run of the suite:
neither file reaches torch, and a process where torch and transformers cannot be imported
builds the app on the test model and scans (text, PDF, into a project's register), loading
only what those files install.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution, packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
TRAINING_ONLY = ("torch", "transformers")
SERVE = ROOT / "requirements-serve.txt"
ENCODER = ROOT / "requirements-encoder.txt"  # installed --no-deps in the CPU runtime

#: Runs in a process of its own, as the CPU image's runtime: every package it does not install
#: (the module names in the JSON file argv[1] names: torch, transformers and the rest) is made
#: "not installed" (None in sys.modules makes `import torch` raise ModuleNotFoundError and
#: importlib.util.find_spec answer None, as where it is missing). Then the app on the test
#: model, as `python -m service` builds it, serves a user's scans; prints what it saw as JSON.
SERVE_SCRIPT = r"""
import io, json, sys
for name in json.load(open(sys.argv[1])):
    sys.modules.setdefault(name, None)

from flask_migrate import upgrade
from service import create_app
from service.config import Settings
from testkit.documents import RISKY_SENTENCES, make_pdf

app = create_app(Settings.from_env())
with app.app_context():
    upgrade()
assert app.extensions["riskscan.warmup"].done.wait(600), "the warm-up never ended"
client = app.test_client()
account = {"email": "cpu@example.com", "password": "plum-orbit-kettle-42"}
statuses = {"account": client.post("/api/v1/auth/register", json=account).status_code}
login = client.post("/api/v1/auth/login", json=account)
headers = {"Authorization": "Bearer " + login.get_json()["access_token"]}
project = client.post("/api/v1/projects", json={"name": "Billing"}, headers=headers)
text = client.post("/api/v1/scans", headers=headers,
                   json={"text": " ".join(RISKY_SENTENCES)})
pdf = client.post("/api/v1/scans", headers=headers, content_type="multipart/form-data",
                  data={"file": (io.BytesIO(make_pdf(RISKY_SENTENCES)), "report.pdf")})
into_project = client.post("/api/v1/scans", headers=headers, json={
    "text": " ".join(RISKY_SENTENCES), "project_id": project.get_json()["id"]})
statuses.update(login=login.status_code, project=project.status_code, text=text.status_code,
                pdf=pdf.status_code, into_project=into_project.status_code)
print(json.dumps({
    "statuses": statuses,
    "sources": [answer.get_json()["source"] for answer in (text, pdf, into_project)],
    "findings": [len(answer.get_json()["data"]) for answer in (text, pdf, into_project)],
    "risk_ids": [finding["risk_id"] for finding in into_project.get_json()["data"]],
    "torch_loaded": any(sys.modules.get(name) is not None for name in ("torch", "transformers")),
}))
"""


def requirement_names(path: Path) -> list[str]:
    """The packages a requirements file names, its ``-r`` files' included."""
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if included := re.match(r"-r\s+(\S+)", line):
            names += requirement_names(path.parent / included.group(1))
        elif line:
            names.append(canonicalize_name(Requirement(line).name))
    return names


def installed_closure(names: list[str]) -> set[str]:
    """The distributions ``names`` need, as installed here: their requirements, whose
    markers hold (no extras), recursively."""
    seen: set[str] = set()
    pending = list(names)
    while pending:
        name = canonicalize_name(pending.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = distribution(name).requires or []
        except PackageNotFoundError:
            continue
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(requirement.name)
    return seen


def cpu_runtime_distributions() -> set[str]:
    """What the CPU image's serve stage installs, as installed here."""
    return installed_closure(requirement_names(SERVE)) | set(requirement_names(ENCODER))


def test_the_cpu_runtime_requirements_reach_neither_torch_nor_transformers():
    full = requirement_names(ROOT / "requirements.txt")
    assert set(requirement_names(SERVE)) | set(requirement_names(ENCODER)) < set(full)
    assert set(TRAINING_ONLY) <= set(full)
    assert not set(TRAINING_ONLY) & cpu_runtime_distributions()


def test_the_cpu_serving_path_runs_on_the_cpu_runtimes_packages_alone(scan_model_dir, tmp_path):
    from service.analysis.embedding import GRAPHS_ROOT, base_encoder_dir, graph

    runtime = cpu_runtime_distributions()
    own = {path.name for path in ROOT.iterdir()}  # service/, ml/, testkit/ …: the image's code
    missing = sorted(name for name, providers in packages_distributions().items()
                     if name not in own
                     and not {canonicalize_name(provider) for provider in providers} & runtime)
    assert set(TRAINING_ONLY) <= set(missing)
    (tmp_path / "missing.json").write_text(json.dumps(missing))
    # The register encoder's graph, made with torch as the image's model stage makes it.
    graph(base_encoder_dir(), "all-MiniLM-L6-v2", GRAPHS_ROOT, int8=True)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
           "RISKSCAN_ENV": "testing", "SECRET_KEY": "serve-without-torch-0123456789",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'riskscan.db'}",
           "UPLOAD_DIR": str(tmp_path / "uploads"), "MODEL_DIR": str(scan_model_dir),
           "MODEL_DEVICE": "cpu", "MODEL_SYNC_S": "0", "LOG_LEVEL": "WARNING",
           "HF_HUB_OFFLINE": "1"}
    served = subprocess.run([sys.executable, "-c", SERVE_SCRIPT, str(tmp_path / "missing.json")],
                            env=env, cwd=ROOT, capture_output=True, text=True, timeout=900,
                            check=False)
    assert served.returncode == 0, served.stderr[-4000:]
    seen = json.loads(served.stdout.splitlines()[-1])

    assert seen["statuses"] == {"account": 201, "login": 200, "project": 201, "text": 201,
                                "pdf": 201, "into_project": 201}, seen
    assert seen["sources"] == ["model"] * 3
    assert all(seen["findings"]), seen  # the model found risks in each scan
    assert all(seen["risk_ids"]), seen  # each joined the project's register
    assert not seen["torch_loaded"]
