"""A register entry, field by field: the one table that the register's recorder, its reads,
the webhooks' messages and the console read (issue #88), so that a new field is a row here,
a column (db/project_tables.py, a migration) and the schema's field.

The API's schemas keep their typed fields (service/projects/schemas.py); a test holds them
to this table.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EntryField:
    """One field of an entry: its name (the column and the API's key), a person's word for
    it (the history's lines), and who reads it."""

    name: str
    said: str
    recorded: bool = True  # an event states its change, from and to (entry_events.py)
    sent: bool = True  # in a webhook's risk (outbox.py); notes stay in the project
    edited: bool = False  # a person sets it (PATCH …/risks/{id}, the risk's page)
    curated: bool = False  # what people gave it, kept by a merge's rule (curation.py)


ENTRY_FIELDS = (
    EntryField("id", "id", recorded=False),
    EntryField("risk", "wording", curated=True),
    EntryField("category", "category", edited=True),
    EntryField("status", "status", edited=True, curated=True),
    EntryField("owner_id", "owner", edited=True, curated=True),
    EntryField("due_date", "due date", edited=True, curated=True),
    EntryField("notes", "notes", sent=False, edited=True, curated=True),
    EntryField("likelihood", "likelihood", edited=True, curated=True),
    EntryField("impact", "impact", edited=True, curated=True),
    EntryField("first_seen", "first seen"),
    EntryField("last_seen", "last seen"),
    EntryField("occurrences", "findings", curated=True),
    EntryField("reopened", "reopened", recorded=False),
    EntryField("added_by_user", "added by hand"),
)

#: The names of the fields that each reader reads, in the table's order.
RECORDED = tuple(field.name for field in ENTRY_FIELDS if field.recorded)
SENT = tuple(field.name for field in ENTRY_FIELDS if field.sent)
EDITED = tuple(field.name for field in ENTRY_FIELDS if field.edited)
CURATED = tuple(field.name for field in ENTRY_FIELDS if field.curated)
COLUMNS = tuple(field.name for field in ENTRY_FIELDS)  # an entry's columns the register reads
SAID = {field.name: field.said for field in ENTRY_FIELDS if field.recorded}
