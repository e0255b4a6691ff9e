"""The model registry and the deployment's active model (admin): list, read a card,
activate, roll back, try a candidate in a shadow trial (registry.py, deployment.py,
trials.py beside this file)."""

from apifairy import other_responses, response
from flask import Blueprint, request
from marshmallow import ValidationError

from service.api import json_body, request_json, segment_but
from service.auth.scopes import authorized
from service.config import current_settings
from service.errors import APIError
from service.extensions import token_auth
from service.serving import deployment, reader_training, registry, trials
from service.serving.schemas import (
    ActivateSchema,
    DeploymentSchema,
    ModelCardSchema,
    ModelListSchema,
    ShadowReportSchema,
    ShadowRequestSchema,
)

models = Blueprint("models", __name__)

# …/models/rollback and …/models/trainings (training_routes.py) are not versions
segment_but(models, "version", "rollback", "trainings")


@models.route("", methods=["GET"])
@authorized("admin:read", role="admin")
@response(ModelListSchema)
@other_responses({401: "No or bad token", 403: "Admins only"})
def index():
    """Every model version under the models root, newest first, with its state (admin)"""
    # Not paged: the root's folders are a handful, and active, previous_versions and the
    # cards' comparisons speak of them all (docs/architecture.md, "Lists").
    listed = deployment.registry_models(current_settings())
    row = deployment.current_state()
    return {"items": listed, "active": deployment.deployed_version(),
            "previous_versions": row.previous_versions if row is not None else [],
            "reader_training": reader_training.status(current_settings())}


@models.route("/<version:version>", methods=["GET"])
@authorized("admin:read", role="admin")
@response(ModelCardSchema)
@other_responses({401: "No or bad token", 403: "Admins only", 404: "No such version"})
def card(version):
    """One version: its figures, state and model card (admin)"""
    settings = current_settings()
    path = registry.folder(settings, version)
    listed = next(m for m in deployment.registry_models(settings) if m["version"] == version)
    return {**listed, **registry.card(path, registry.root(settings))}


@models.route("/<version:version>/activate", methods=["POST"])
@authorized("admin:write", role="admin")
@response(DeploymentSchema)
@other_responses({401: "No or bad token", 403: "Admins only", 404: "No such version",
                  409: "Active already, the active model changed meanwhile, or a "
                       "regression beside the active model that `override` does not name",
                  422: "The model failed to load or its check, or a reader alone; the old "
                       "one serves on"})
def activate(version):
    """Load and check a version (F, or the cascade F+R: %2B in a URL), then make it the
    model every process serves (admin). A version that lost ground beside the active model,
    or beside the last version activated without an override (a label's F1 down by more
    than 0.1, a tenth fewer risks found on the development documents, or their findings'
    precision down by more than 0.05: its `regressions` in the list) is a 409 unless
    `{override: [...]}` names each, and the override is audited. A body {reader: R} serves F+R; none, or null,
    F alone"""
    body = _activation()
    version = registry.with_reader(version, body.get("reader"))
    row, seconds = deployment.activate(token_auth.current_user().id, version,
                                       frozenset(body.get("override", ())))
    return _answer(row, seconds, [])


def _activation() -> dict:
    """An activation's JSON body: the reader and the override it names (it is optional)."""
    if not request.is_json:
        return {}
    try:
        return ActivateSchema().load(request_json(empty_ok=True))
    except ValidationError as error:
        raise APIError(422, "The request has invalid fields.", errors=error.messages) from None


@models.route("/rollback", methods=["POST"])
@authorized("admin:write", role="admin")
@response(DeploymentSchema)
@other_responses({401: "No or bad token", 403: "Admins only",
                  409: "No earlier version, none of them can serve (each named with why), "
                       "the active model changed meanwhile, or the version lost ground "
                       "that `override` does not name",
                  422: "A bad override"})
def rollback():
    """Return to the newest version active before this one that still serves (admin)

    Versions whose folder is gone or whose model is refused are passed over, named in
    `skipped`, and leave the history. The version returned to passes the gate that
    activation does: a regression beside the active model, or beside the last version
    activated without an override, is a 409 unless `{override: [...]}` names each.
    """
    row, seconds, skipped = deployment.rollback(
        token_auth.current_user().id, frozenset(_activation().get("override", ())))
    return _answer(row, seconds, skipped)


@models.route("/<version:version>/shadow", methods=["POST"])
@authorized("admin:write", role="admin")
@json_body(ShadowRequestSchema)
@response(ShadowReportSchema, 201)
@other_responses({401: "No or bad token", 403: "Admins only", 404: "No such version",
                  409: "It is the active version, or a shadow trial runs already",
                  422: "A bad sample rate or limit, or the model failed to load or its "
                       "check"})
def start_shadow(args, version):
    """Start a shadow trial: the version reads a sample of the scans beside the active
    model, after their answers, until `limit` scans are read (admin)

    Send `{sample_rate?, limit?}`. One trial at a time; it ends on `DELETE`, at its limit,
    or when the version is activated. The answer is the (empty) report.
    """
    deployment.start_shadow(token_auth.current_user().id, version, args["sample_rate"],
                            args["limit"])
    return trials.report(version)


@models.route("/<version:version>/shadow", methods=["GET"])
@authorized("admin:read", role="admin")
@response(ShadowReportSchema)
@other_responses({401: "No or bad token", 403: "Admins only",
                  404: "No such version, or it has had no shadow trial"})
def shadow_report(version):
    """The report of the version's latest shadow trial, running or ended (admin)"""
    registry.resolve(current_settings(), version)
    return trials.report(version)


@models.route("/<version:version>/shadow", methods=["DELETE"])
@authorized("admin:write", role="admin")
@other_responses({204: "Ended", 401: "No or bad token", 403: "Admins only",
                  404: "No such version, or no shadow trial runs",
                  409: "The trial that runs is another version's"})
def end_shadow(version):
    """End the version's shadow trial; its report stays readable (admin)"""
    deployment.end_shadow(token_auth.current_user().id, version)
    return "", 204


def _answer(row, seconds: float, skipped: list[dict]) -> dict:
    return {"active_version": row.active_version, "previous_versions": row.previous_versions,
            "generation": row.generation, "changed_at": row.changed_at,
            "changed_by": row.changed_by, "load_seconds": round(seconds, 3),
            "skipped": skipped}
