"""The console's blueprint: pages at /app, their templates and static files."""

from __future__ import annotations

from flask import Blueprint

console = Blueprint("console", __name__, url_prefix="/app", template_folder="templates",
                    static_folder="static")
