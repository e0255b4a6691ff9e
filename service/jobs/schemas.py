"""Request and response shapes of /api/v1/jobs."""

from __future__ import annotations

from marshmallow import fields

from service.api import PageArgs, page_of
from service.extensions import ma


class JobDocumentSchema(ma.Schema):
    filename = fields.String()
    status = fields.String(metadata={"description": "queued, running, done, failed, "
                                                    "cancelled or skipped (the project holds "
                                                    "its text already)"})
    reported_on = fields.Date(allow_none=True, metadata={
        "description": "the report's date its scan takes (the form's, a date in its name, "
                       "or the day the job was sent)"})
    scan_id = fields.String(allow_none=True, metadata={
        "description": "the scan it became (GET /api/v1/scans/{id}); null until done, or "
                       "once that scan is deleted"})
    risks = fields.Integer(allow_none=True, metadata={
        "description": "how many risks its scan found (its counts, summed); null until "
                       "done, or once that scan is deleted"})
    error = fields.String(allow_none=True, metadata={
        "description": "why it failed, or why it was skipped, in words"})
    duplicate_of = fields.String(allow_none=True, metadata={
        "description": "skipped: the project's scan of the same text"})
    register = fields.Dict(keys=fields.String(), values=fields.Integer(), allow_none=True,
                           metadata={"description": "what its scan did to the project's "
                                                    "register: entries `opened`, `stated` "
                                                    "again, `reopened`, findings `kept_out` by "
                                                    "a dismissal; null outside a project or "
                                                    "until done"})


class JobSummarySchema(ma.Schema):
    job_id = fields.String(attribute="id")
    status = fields.String(metadata={"description": "queued, running, done or cancelled"})
    project_id = fields.String(allow_none=True)
    total = fields.Integer(metadata={"description": "documents in the job"})
    done = fields.Integer(metadata={"description": "documents that became scans"})
    failed = fields.Integer()
    skipped = fields.Integer(metadata={"description": "documents the project held already"})
    created_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)


class JobSchema(JobSummarySchema):
    documents = fields.List(fields.Nested(JobDocumentSchema))


class JobAcceptedSchema(ma.Schema):
    job_id = fields.String(attribute="id")
    status = fields.String()
    total = fields.Integer()


class JobListArgs(PageArgs):
    pass


JobPageSchema = page_of(JobSchema)
