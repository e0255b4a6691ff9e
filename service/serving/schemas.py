"""Request and response shapes of the model registry's routes (service/serving/routes.py)."""

from datetime import UTC

from marshmallow import ValidationError, fields, validate, validates_schema

from service.analysis.labels import LABELS
from service.api import PageArgs
from service.db import REVIEW_STATES
from service.extensions import ma
from service.serving.registry import VERSION
from service.serving.trials import DEFAULT_LIMIT, DEFAULT_SAMPLE_RATE, MAX_LIMIT, SHOWN


class ModelFiguresSchema(ma.Schema):
    sentence_macro_f1 = fields.Dict(metadata={"description": "on validation and test sentences"})
    documents = fields.Dict(metadata={"description": "precision, recall and category accuracy "
                                      "on the dev and test documents at the operating point"})
    min_score = fields.Float(allow_none=True, metadata={
        "description": "the operating point (a pair model's: the probability from which it "
                       "joins)"})


class ModelSchema(ma.Schema):
    version = fields.String()
    state = fields.String(metadata={"description": "active, shadow, available or broken"})
    reason = fields.String(allow_none=True, metadata={"description": "why it is broken"})
    role = fields.String(metadata={"description": "fast; reader (it has a screen.json and "
                                   "serves only behind a fast model, as F+R); or pair, the "
                                   "register's pair model (it decides which entry a finding "
                                   "joins, and is in use as the models root's `pair` folder)"})
    fitted_to = fields.String(allow_none=True, metadata={
        "description": "a reader's: the fast model its screen threshold was chosen on"})
    encoder = fields.String(allow_none=True)
    runtime = fields.String(metadata={"description": "how this process runs it, e.g. "
                                      "'onnx int8 on cpu'"})
    size_bytes = fields.Integer(allow_none=True)
    created = fields.DateTime()
    figures = fields.Nested(ModelFiguresSchema)
    regressions = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "what it lost beside the active model of its role, in words, by the "
                       "name an activation's `override` gives it (a label, or `documents`); "
                       "empty for the active model and where nothing fell"})


class ModelListSchema(ma.Schema):
    items = fields.List(fields.Nested(ModelSchema))
    active = fields.String(allow_none=True)
    previous_versions = fields.List(fields.String(), metadata={
        "description": "what rollback returns to, the newest last (it passes over those "
                       "that cannot serve)"})
    reader_training = fields.Dict(metadata={
        "description": "the reader's background training (READER_TRAIN=auto): `state` "
                       "(off, waiting, training, activated, refused, failed, stopped) and "
                       "its `words`, `version`, `reason` (why not, or what it waits for), "
                       "`started_at`, `finished_at`, and while it trains `progress` "
                       "(`stage`, `done` of `total` steps, `epoch` of `epochs`)"})


class ModelCardSchema(ModelSchema):
    card = fields.String(allow_none=True, metadata={"description": "the model card (Markdown)"})
    metrics = fields.Dict(allow_none=True)
    calibration = fields.Dict(allow_none=True)


class ActivateSchema(ma.Schema):
    reader = fields.String(allow_none=True, validate=validate.Regexp(f"^{VERSION.pattern}$"),
                           metadata={"description": "the reader to serve behind the version "
                                     "(the cascade version+reader); null or left out: the "
                                     "version alone"})
    override = fields.List(
        fields.String(validate=validate.Length(min=1, max=16)), validate=validate.Length(max=12),
        load_default=list, metadata={
            "description": "the regressions beside the active model to accept, each named: "
                           "a label whose F1 fell by more than 0.1, or `documents` (risks "
                           "found on the development documents fell by more than a tenth)"})


class DeploymentSchema(ma.Schema):
    active_version = fields.String()
    previous_versions = fields.List(fields.String(), metadata={
        "description": "what rollback returns to, the newest last"})
    generation = fields.Integer()
    changed_at = fields.DateTime()
    changed_by = fields.String(allow_none=True)
    load_seconds = fields.Float(metadata={"description": "loading and checking the model took"})
    skipped = fields.List(fields.Nested(lambda: SkippedVersionSchema()), metadata={
        "description": "rollback: the newer versions of the history passed over (gone or "
                       "refused), newest first; empty for an activation"})


class SkippedVersionSchema(ma.Schema):
    version = fields.String()
    reason = fields.String(metadata={"description": "why it cannot serve"})


class ShadowRequestSchema(ma.Schema):
    sample_rate = fields.Float(
        load_default=DEFAULT_SAMPLE_RATE, allow_nan=False,
        validate=validate.Range(min=0, max=1, min_inclusive=False),
        metadata={"description": "the share of the scans it reads, 0 < r <= 1 "
                                 f"(default {DEFAULT_SAMPLE_RATE})"})
    limit = fields.Integer(
        load_default=DEFAULT_LIMIT, strict=True, validate=validate.Range(min=1, max=MAX_LIMIT),
        metadata={"description": "the trial ends after reading this many scans "
                                 f"(default {DEFAULT_LIMIT}, at most {MAX_LIMIT})"})


class ShadowSideSchema(ma.Schema):
    category = fields.String(metadata={"description": "a risk category, or none"})
    score = fields.Float(metadata={"description": "the risk score (1 - P(none))"})


class ShadowFindingSchema(ma.Schema):
    scan_id = fields.String()
    sentence = fields.String()
    start = fields.Integer()
    end = fields.Integer()
    active = fields.Nested(ShadowSideSchema)
    shadow = fields.Nested(ShadowSideSchema)


class ShadowFindingsSchema(ma.Schema):
    total = fields.Integer()
    items = fields.List(fields.Nested(ShadowFindingSchema),
                        metadata={"description": f"the newest {SHOWN}"})


class ShadowScansSchema(ma.Schema):
    read = fields.Integer()
    skipped = fields.Integer(metadata={"description": "sampled, but the reader's queue was full"})


class ShadowCorrectionsSchema(ma.Schema):
    findings = fields.Integer(metadata={"description": "corrected findings of the scans read"})
    active_agrees = fields.Integer()
    shadow_agrees = fields.Integer()


class ShadowReportSchema(ma.Schema):
    version = fields.String()
    running = fields.Boolean()
    sample_rate = fields.Float()
    limit = fields.Integer()
    started_at = fields.DateTime()
    started_by = fields.String(allow_none=True)
    ended_at = fields.DateTime(allow_none=True)
    ended_why = fields.String(allow_none=True, metadata={
        "description": "deleted, activated or limit"})
    scans = fields.Nested(ShadowScansSchema)
    sentences = fields.Integer()
    agreed = fields.Integer(metadata={"description": "sentences both models labelled alike"})
    agreement = fields.Float(allow_none=True)
    category_differs = fields.Integer(metadata={
        "description": "sentences both found a risk in, in other categories"})
    one_sided = fields.Nested(ShadowFindingsSchema, metadata={
        "description": "the findings only one of the two models made"})
    corrections = fields.Nested(ShadowCorrectionsSchema)


class TrainingRequestSchema(ma.Schema):
    base = fields.String(validate=validate.Regexp(VERSION), metadata={
        "description": "the deployment to fine-tune: a fast model `F`, or `F+R` with its "
                       "reader (default: the active deployment)"})


class TrainingSchema(ma.Schema):
    training_id = fields.String(attribute="id")
    status = fields.String(metadata={"description": "queued, running, done or failed"})
    base = fields.String(attribute="base_version", metadata={
        "description": "the deployment it fine-tunes, from its current weights: `F` or "
                       "`F+R`"})
    version = fields.String(allow_none=True, metadata={
        "description": "the candidate it registered (done): `F'`, or `F'+R'` whose new "
                       "reader is fitted behind the new fast model"})
    corrections = fields.Integer(metadata={
        "description": "distinct corrected or added sentences, accepted by a reviewer, when "
                       "it was asked for"})
    contributors = fields.Dict(keys=fields.String(), values=fields.Dict(), allow_none=True,
                               metadata={"description": "who taught it: {email: {label: "
                                                        "rows}}"})
    error = fields.String(allow_none=True, metadata={"description": "why it failed"})
    figures = fields.Dict(allow_none=True, metadata={
        "description": "the candidate's card figures beside the base's (`candidate`, "
                       "`base`; a pair's readers' under `reader`; `regressions`: what it "
                       "lost beside its base, by name)"})
    shadow = fields.String(attribute="trial", allow_none=True, metadata={
        "description": "its shadow trial as it stands: `running`, `ended: activated` (or "
                       "`deleted`, `limit`, `ended by an admin`), or why it did not start"})
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)


class ReviewArgs(ma.Schema):
    review = fields.String(load_default="pending", validate=validate.OneOf(REVIEW_STATES),
                           metadata={"description": "pending (the default), accepted or "
                                                    "rejected"})


class CorrectionListArgs(PageArgs, ReviewArgs):
    contributor = fields.String(validate=validate.Length(max=36),
                                metadata={"description": "a contributor's user id"})
    label = fields.String(validate=validate.OneOf(LABELS), metadata={
        "description": "the label the contributor gave"})


class ReviewedCorrectionSchema(ma.Schema):
    finding_id = fields.Integer(attribute="finding.id")
    scan_id = fields.String(attribute="finding.scan_id")
    sentence = fields.String(attribute="finding.risk")
    label = fields.String(attribute="finding.corrected_category",
                          metadata={"description": "what the contributor said"})
    model_category = fields.String(attribute="finding.category", metadata={
        "description": "what the model said (for an added risk: the contributor's label; "
                       "the model had found nothing)"})
    added_by_user = fields.Boolean(attribute="finding.added_by_user")
    contributor = fields.String(attribute="finding.corrected_by", metadata={
        "description": "the contributor's user id"})
    contributor_email = fields.String(allow_none=True, metadata={
        "description": "null where the account is gone (its corrections never teach)"})
    corrected_at = fields.DateTime(attribute="finding.corrected_at")
    review = fields.String(attribute="finding.review")
    reviewed_by = fields.String(attribute="finding.reviewed_by", allow_none=True, metadata={
        "description": "who accepted or rejected it (null while pending)"})
    reviewer_email = fields.String(allow_none=True, metadata={
        "description": "the reviewer's email; null while pending, or where the account is "
                       "gone"})
    reviewed_at = fields.DateTime(attribute="finding.reviewed_at", allow_none=True)


class ContributorSchema(ma.Schema):
    user_id = fields.String()
    email = fields.String(allow_none=True, metadata={"description": "null: the account is gone"})
    active = fields.Boolean(metadata={"description": "a deactivated account's rows never "
                                                     "teach, whatever their review"})
    labels = fields.Dict(keys=fields.String(), values=fields.Integer())
    total = fields.Integer()
    newest_at = fields.DateTime(metadata={
        "description": "their newest correction in this state: a decision on all of them "
                       "sends it back as `as_of`, and decides none made after it"})


class ContributorListSchema(ma.Schema):
    items = fields.List(fields.Nested(ContributorSchema))


class ShownCorrectionSchema(ma.Schema):
    id = fields.Integer(required=True, validate=validate.Range(min=1))
    label = fields.String(required=True, validate=validate.OneOf(LABELS), metadata={
        "description": "the label the reviewer was shown: a correction changed since is a 409"})


class ReviewDecisionSchema(ma.Schema):
    decision = fields.String(required=True, validate=validate.OneOf(("accept", "reject")))
    findings = fields.List(fields.Nested(ShownCorrectionSchema),
                           validate=validate.Length(min=1, max=500), metadata={
                               "description": "the corrections decided, each with the label "
                                              "shown (at most 500)"})
    contributor = fields.String(validate=validate.Length(min=1, max=36), metadata={
        "description": "instead of findings: every pending correction of this user"})
    label = fields.String(validate=validate.OneOf(LABELS), metadata={
        "description": "with contributor: only those of this label"})
    as_of = fields.AwareDateTime(default_timezone=UTC, metadata={
        "description": "with contributor, required: the newest correction shown (the "
                       "contributors list's `newest_at`); later ones stay pending"})

    @validates_schema
    def _one_selection(self, data, **_kwargs):
        if ("findings" in data) == ("contributor" in data):
            raise ValidationError("Send findings or contributor, one of the two.",
                                  field_name="findings")
        if "contributor" in data and "as_of" not in data:
            raise ValidationError("Send the newest correction you were shown (newest_at).",
                                  field_name="as_of")
        for field in ("label", "as_of"):
            if field in data and "contributor" not in data:
                raise ValidationError("Only with a contributor.", field_name=field)


class ReviewResultSchema(ma.Schema):
    decision = fields.String(metadata={"description": "accepted or rejected"})
    changed = fields.Integer(metadata={"description": "corrections whose review changed"})
    pending = fields.Integer(metadata={"description": "corrections still waiting, everyone's"})


class UndoSchema(ma.Schema):
    findings = fields.List(fields.Nested(ShownCorrectionSchema), required=True,
                           validate=validate.Length(min=1, max=500), metadata={
                               "description": "the decided corrections to put back to "
                                              "pending, each with the label shown (at most "
                                              "500)"})


class UndoResultSchema(ma.Schema):
    undone = fields.Integer(metadata={"description": "decisions undone by this call"})
    accepted = fields.Integer(metadata={"description": "of them, acceptances"})
    rejected = fields.Integer(metadata={"description": "of them, rejections"})
    pending = fields.Integer(metadata={"description": "corrections waiting, everyone's"})
