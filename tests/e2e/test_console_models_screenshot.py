"""The Models page as docs/console/models.png shows it: a registry as a deployment has one
(two trainings named as ml.train names them, the older serving), not the registry tests'
fixtures (broken, escaping and miswritten versions), and an admin named as people are.

Its own module: the Models tests' app serves those fixtures on purpose."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime

import pytest

from service.analysis.model_folder import CHECK_JSON
from tests.e2e.driver import accessibility_violations, make_admin, seed, sign_in
from tests.registry import version_folder

pytestmark = pytest.mark.slow

SERVING, CANDIDATE = "minilm-20261020-093012", "minilm-20261126-015106"


@pytest.fixture(scope="module")
def console_settings(models_root, tmp_path_factory) -> dict:
    """tests/e2e/conftest.py's app, serving from a registry of two trainings: the candidate
    is the registry tests' v2 (another operating point), created after."""
    root = tmp_path_factory.mktemp("console-models-shot") / "models"
    root.mkdir()
    for name, source in ((SERVING, models_root / "v1"), (CANDIDATE, models_root / "v2")):
        version = version_folder(root, name, source)
        shutil.copy2(source / CHECK_JSON, version / CHECK_JSON)
        made = datetime.strptime(name.removeprefix("minilm-"), "%Y%m%d-%H%M%S")
        stamp = made.replace(tzinfo=UTC).timestamp()
        os.utime(version, (stamp, stamp))  # "Created" is the folder's time: its training's
    (root / "current").write_text(f"{SERVING}\n")
    return {"MODEL_DIR": str(root), "MODEL_SYNC_S": 0}


def test_the_models_page_as_a_deployment_has_it(page, console_app, axe_script, screenshots):
    admin = seed(console_app, "maria.lopez@example.com")
    make_admin(console_app, admin.email)
    sign_in(page, admin.email)
    page.goto("/app/admin/models")

    rows = page.get_by_role("table", name="Model versions, newest first").locator("tbody tr")
    names = [row.locator("th, td").first.inner_text().strip() for row in rows.all()]
    assert sorted(names) == sorted([SERVING, CANDIDATE]), names
    assert page.locator(f"#model-{SERVING} td").nth(1).inner_text() == "Active: serving"
    assert accessibility_violations(page, axe_script) == []
    screenshots.take(page, "models")
