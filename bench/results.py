"""bench/results.json: each benchmark's raw figures under its own key, the others kept."""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results.json"


def record(key: str, figures: dict) -> None:
    """Write ``figures`` under ``key`` of bench/results.json, keeping the other keys."""
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    results[key] = figures
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
