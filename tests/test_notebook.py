"""The retraining notebook runs top to bottom (on a tiny subset) and shows its results."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = REPO_ROOT / "notebooks" / "retrain.ipynb"


@pytest.mark.slow
def test_the_retraining_notebook_runs_top_to_bottom(monkeypatch, tmp_path) -> None:
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("TMPDIR", str(tmp_path))  # its work folders are the test's own
    monkeypatch.setenv("RISKSCAN_NOTEBOOK_SMOKE", "1")  # the kernel inherits it
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    models_root = REPO_ROOT / "models_cache"
    models_before = sorted(p.name for p in models_root.iterdir()) if models_root.is_dir() else []

    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()

    outputs = [output for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "smoke run" in printed
    assert "macro-F1" in printed and "new version:" in printed
    # The loop: corrections trained on, the gate's verdict, the API's calls to make.
    assert "corrections: {'lines': 2, 'rows': 2," in printed
    assert "The candidate is no worse than the active model." in printed
    assert "/api/v1/admin/models/" in printed and "/activate" in printed
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1  # the confusion matrix
    # A smoke run writes to a temporary folder and leaves the service's models alone.
    assert [p.name for p in tmp_path.glob("riskscan-notebook-*/models/*")]
    models_after = sorted(p.name for p in models_root.iterdir()) if models_root.is_dir() else []
    assert [name for name in models_after if not name.startswith(".test-")] == [
        name for name in models_before if not name.startswith(".test-")]


def test_the_notebook_trains_a_reader_and_deploys_the_cascade(monkeypatch, scan_model_dir,
                                                             tmp_path) -> None:
    # RISKSCAN_NOTEBOOK_READER: the same loop for the cascade's reader, fitted to the fast
    # model with ml.cascade and deployed as F+R (a smoke run's reader: the fast encoder).
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("RISKSCAN_NOTEBOOK_SMOKE", "1")
    monkeypatch.setenv("RISKSCAN_NOTEBOOK_READER", "1")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("RISKSCAN_FAST_MODEL", str(scan_model_dir))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    notebook = nbformat.read(NOTEBOOK, as_version=4)

    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()

    outputs = [output for cell in notebook.cells if cell.cell_type == "code"
               for output in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "screen: " in printed and "| int8, kept in fp32: " in printed
    assert "a reader is gated as a cascade: python -m ml.scorecard" in printed
    fast = Path(scan_model_dir).name
    assert re.search(rf"/api/v1/admin/models/{re.escape(fast)}%2Breader-\d{{8}}-\d{{6}}/shadow",
                     printed)
