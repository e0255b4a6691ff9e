"""Trainings from corrections (admin): /api/v1/admin/models/trainings (trainings.py runs
them)."""

from apifairy import other_responses, response
from flask import Blueprint, url_for
from sqlalchemy import select

from service.api import get_or_404, json_body, page_of, paginated_response
from service.auth.scopes import authorized
from service.db import ModelTraining
from service.extensions import token_auth
from service.serving import trainings as jobs
from service.serving.schemas import TrainingRequestSchema, TrainingSchema

trainings = Blueprint("trainings", __name__)


@trainings.route("", methods=["POST"])
@authorized("admin:write", role="admin")
@json_body(TrainingRequestSchema)
@response(TrainingSchema, 202)
@other_responses({401: "No or bad token", 403: "Admins only", 404: "No such base version",
                  409: "A training runs already",
                  422: "Too few corrections (TRAINING_MIN_CORRECTIONS), or a reader as base",
                  503: "No model deployed"})
def create(args):
    """Fine-tune a new version from the deployment's corrections and added risks (admin)

    Send `{}` (the active deployment) or `{base}` (`F`, or `F+R`: its reader too). Answers
    202 with a `Location`; the training fine-tunes the base from its current weights (a
    reader is then fitted behind the new fast model), registers the candidate with its card
    and starts its shadow trial. It never activates it.
    """
    training = jobs.start(token_auth.current_user(), args.get("base"))
    return training, 202, {"Location": url_for("trainings.get", training_id=training.id)}


@trainings.route("", methods=["GET"])
@authorized("admin:read", role="admin")
@paginated_response(page_of(TrainingSchema)(), items=jobs.with_trials)
@other_responses({401: "No or bad token", 403: "Admins only", 422: "Bad page"})
def index(args):
    """The trainings, newest first (admin)"""
    return select(ModelTraining).order_by(ModelTraining.created_at.desc(), ModelTraining.id)


@trainings.route("/<training_id>", methods=["GET"])
@authorized("admin:read", role="admin")
@response(TrainingSchema)
@other_responses({401: "No or bad token", 403: "Admins only", 404: "No such training"})
def get(training_id):
    """One training: its status, the candidate, its figures or why it failed (admin)"""
    return jobs.with_trials([get_or_404(ModelTraining, training_id, "training")])[0]
