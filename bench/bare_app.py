"""The baseline for GET /api/v1/scans: a bare Flask app answering an empty list, on the
service's waitress settings (WAITRESS_THREADS, ident), with no auth, database or middleware.
``--page FILE``: it answers that JSON page instead (bench/list_scans.py: the same bytes the
service answered)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/health")
def health():
    return jsonify(status="ok")


PAGE = {"items": [], "page": 1, "per_page": 20, "total": 0}


@app.get("/api/v1/scans")
def scans():
    return jsonify(PAGE)


if __name__ == "__main__":
    from waitress import serve

    parser = argparse.ArgumentParser(prog="python -m bench.bare_app")
    parser.add_argument("--page", help="a JSON page to answer instead of an empty list")
    if page := parser.parse_args().page:
        PAGE = json.loads(Path(page).read_text(encoding="utf-8"))

    serve(app, host="127.0.0.1", port=int(os.environ["PORT"]),
          threads=int(os.environ.get("WAITRESS_THREADS", "8")), ident="riskscan")
