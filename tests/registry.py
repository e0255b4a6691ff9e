"""A models root of a test's own for the model registry's tests (service/serving/): the test
model under several versions, the ``models_root`` and ``deployed`` fixtures, and what those
tests read back (audit events, deployment rows, a scan, a model's files' digests).

The registry of ``models_root``: ``v1``, and ``v2`` with another operating point (the same
weights that answer differently on purpose), each with the check.json of its built-in scan,
and broken ones: a corrupt model.onnx, a check.json its model does not match, a folder
without a config, a link to a folder outside the root and a folder with a file that links
outside. ``current`` names v1. ``reader_root``'s holds readers too (test_model_registry_reader.py
says which)."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
from sqlalchemy import func, select

from service.analysis.check import write_check
from service.analysis.model_folder import CHECK_JSON, SCREEN_JSON
from service.db import AuditEvent, ModelDeployment
from service.extensions import db
from testkit.model_folders import copy_version
from tests.helpers import Accounts

#: The operating point of v2: lower than v1's, so that it reports more (the test model is
#: uncalibrated: v1 reads at 0.5).
V2_MIN_SCORE = 0.2


TEXT = ("The supplier may deliver the servers three weeks late. "
        "The team met on Tuesday. The budget may be cut again next quarter.")


def version_folder(root, name, source, *, skip=()):
    """``root``/``name``: the files of ``source`` without its check.json (each version's is
    written for it), as testkit/model_folders.py copies a version."""
    return copy_version(root, name, source, skip={*skip, CHECK_JSON})


def build_models_root(root, source, outside):
    """The registry of the module docstring in ``root`` (and ``outside``, where the escaping
    versions point), from the model folder ``source``; ``current`` names v1."""
    from service.analysis.transformer import TransformerAnalyzer

    root.mkdir(parents=True, exist_ok=True)
    v1 = version_folder(root, "v1", source, skip={"model.safetensors"})
    v2 = version_folder(root, "v2", source, skip={"model.safetensors"})
    (v2 / "calibration.json").write_text(json.dumps({"temperature": 1.0,
                                                     "min_score": V2_MIN_SCORE}))
    write_check(v1, TransformerAnalyzer(v1))
    write_check(v2, TransformerAnalyzer(v2))
    corrupt = version_folder(root, "corrupt", source, skip={"model.safetensors", "model.onnx"})
    (corrupt / "model.onnx").write_bytes(b"\x08\x07not an onnx graph" * 64)
    miswritten = version_folder(root, "miswritten", source, skip={"model.safetensors"})
    recorded = json.loads((v1 / CHECK_JSON).read_text())
    assert recorded["findings"], "the test model finds nothing in the built-in scan"
    recorded["findings"][0]["category"] = next(
        label for label in ("legal", "budget") if label != recorded["findings"][0]["category"])
    (miswritten / CHECK_JSON).write_text(json.dumps(recorded))
    (root / "empty").mkdir()
    outside.mkdir(parents=True, exist_ok=True)
    version_folder(outside, "elsewhere", source, skip={"model.safetensors"})
    (root / "escape").symlink_to(outside / "elsewhere", target_is_directory=True)
    leaky = version_folder(root, "leaky", source, skip={"model.safetensors", "config.json"})
    (leaky / "config.json").symlink_to(outside / "elsewhere" / "config.json")
    (root / "current").write_text("v1\n")
    return root


@pytest.fixture(scope="session")
def models_root(tmp_path_factory, scan_model_dir):
    """The registry the tests deploy from (see the module docstring); ``current`` names v1."""
    from pathlib import Path

    return build_models_root(tmp_path_factory.mktemp("models"), Path(scan_model_dir),
                             tmp_path_factory.mktemp("outside"))


def fingerprint(folder) -> dict:
    """Each file of ``folder``: its bytes' digest, so that a test can tell it unchanged."""
    import hashlib

    return {file.name: hashlib.sha256(file.read_bytes()).hexdigest()
            for file in sorted(folder.iterdir()) if file.is_file()}


def calibrated_source(folder, model_dir):
    """A model folder of the test's own: a copy of ``model_dir`` with a calibration.json, a
    check.json and a screen.json, every file a test writes into a version (the session's
    test model has none of them; a real model, RISKSCAN_TEST_MODEL_DIR, may)."""
    from pathlib import Path

    shutil.copytree(Path(model_dir), folder,
                    ignore=shutil.ignore_patterns("model.safetensors", CHECK_JSON))
    (folder / "calibration.json").write_text(json.dumps({"temperature": 1.0, "min_score": 0.5}))
    (folder / CHECK_JSON).write_text(json.dumps({"findings": []}))
    (folder / "screen.json").write_text(json.dumps({"screen": 0.5}))
    return folder


def own_root(root, models_root, names):
    """A models root of the test's own under ``root``: each of ``names`` the files of v1
    (or v2, for ``v2``) with its check.json, ``current`` naming the first. A test that
    removes a version, or whose models must not be shared with other tests' apps, uses it."""
    root.mkdir()
    for name in names:
        source = models_root / ("v2" if name == "v2" else "v1")
        folder = version_folder(root, name, source)
        shutil.copy2(source / CHECK_JSON, folder / CHECK_JSON)
    (root / "current").write_text(f"{names[0]}\n")
    return root


@pytest.fixture
def deployed(make_app, models_root):
    """An app serving v1 from the models root, with an admin."""
    app = make_app(MODEL_DIR=str(models_root))
    client = app.test_client()
    admin, headers = Accounts(app, client).user(role="admin")
    return app, client, headers, admin


def scan(client, headers):
    response = client.post("/api/v1/scans", headers=headers, json={"text": TEXT})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def audit_events(app, *events):
    with app.app_context():
        return [(e.event, e.actor_id, e.details) for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.event.in_(events)).order_by(AuditEvent.id))]


def deployment_rows(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ModelDeployment))


class InFlight:
    """A model's classify held until ``release``: ``arrived`` (a barrier of the scans and
    the test) says every scan is inside it."""

    def __init__(self, model, scans: int):
        self.arrived = threading.Barrier(scans + 1)
        self.release = threading.Event()
        self._classify = model.classify
        model.classify = self

    def __call__(self, sentences, **options):
        self.arrived.wait(600)
        assert self.release.wait(600), "the test never released the scans"
        return self._classify(sentences, **options)


READER_CALIBRATION = {"temperature": 2.0, "min_score": 0.6}


SCREEN = 0.5


#: A graph that a file check takes for ONNX (ir_version, then a graph field of three
#: bytes) and that ONNX Runtime cannot load.
UNLOADABLE = b"\x08\x07\x3a\x03abc"


CORRUPT = b"\x08\x07not an onnx graph" * 64


def reader_version(root: Path, name: str, source: Path, screen, *, graph: bytes | None = None):
    folder = version_folder(root, name, source, skip={"model.safetensors", "calibration.json"})
    if graph is not None:
        (folder / "model.onnx").unlink()  # a link to the source's: write a file of its own
        (folder / "model.onnx").write_bytes(graph)
    (folder / "calibration.json").write_text(json.dumps(READER_CALIBRATION))
    (folder / SCREEN_JSON).write_text(screen if isinstance(screen, str) else json.dumps(screen))
    return folder


def build_reader_root(root: Path, source: Path) -> Path:
    """The registry of the module docstring in ``root``, from the model folder ``source``;
    ``current`` names v1."""
    from service.analysis.transformer import TransformerAnalyzer

    root.mkdir(parents=True, exist_ok=True)
    v1 = version_folder(root, "v1", source, skip={"model.safetensors"})
    v2 = version_folder(root, "v2", source, skip={"model.safetensors"})
    (v2 / "calibration.json").write_text(json.dumps({"temperature": 1.0,
                                                     "min_score": V2_MIN_SCORE}))
    for fast in ("v1", "v2"):
        folder = reader_version(root, f"r{fast[1]}", source,
                         {"screen": SCREEN, "fast_model": fast, "reader_model": f"r{fast[1]}"})
        write_check(folder, TransformerAnalyzer(folder))
    for folder in (v1, v2):
        write_check(folder, TransformerAnalyzer(folder))
    fitted = {"screen": SCREEN, "fast_model": "v1"}
    reader_version(root, "unscreened", source, "{not json")
    reader_version(root, "overscreen", source, {"screen": 1.5, "fast_model": "v1"})
    reader_version(root, "rcorrupt", source, fitted, graph=CORRUPT)
    reader_version(root, "runloadable", source, fitted, graph=UNLOADABLE)
    cut = version_folder(root, "cut", source, skip={"model.safetensors", "model.onnx"})
    with (source / "model.onnx").open("rb") as graph:
        (cut / "model.onnx").write_bytes(graph.read(100_000))
    (root / "current").write_text("v1\n")
    return root


@pytest.fixture(scope="session")
def reader_root(tmp_path_factory, scan_model_dir):
    """The registry of the module docstring; ``current`` names v1."""
    return build_reader_root(tmp_path_factory.mktemp("reader-models"), Path(scan_model_dir))
