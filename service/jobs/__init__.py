"""Batch jobs: several documents sent at once, each made an ordinary scan by a worker.

``celery -A service.jobs worker`` runs the tasks on any machine with the same database and
upload storage when ``CELERY_BROKER_URL`` is set; without a broker, the same task code runs
in a bounded pool inside the service process (queue.py). docs/jobs.md has the whole story.
"""

from service.jobs.queue import celery  # noqa: F401  (the app `celery -A service.jobs` finds)
from service.jobs.worker import scan_document  # noqa: F401  (its task, registered)
