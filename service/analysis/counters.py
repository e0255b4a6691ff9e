"""The model's Prometheus counters, apart from the web service's (service/metrics.py).

They live in prometheus-client's process-wide registry, so ``/metrics`` serves them with the
rest; here they need no Flask, so that ml/ and a GPU machine can classify without the web
service's dependencies.
"""

from prometheus_client import Counter

SENTENCES = Counter("riskscan_sentences_classified_total",
                    "Sentences classified by the in-process model")
CASCADE_SENTENCES = Counter(
    "riskscan_cascade_sentences_total", "Sentences the cascade's screen judged (screened), "
    "passed on to its reader (passed), and the reader read within its budget (read): read "
    "over screened is what the cascade costs", ["stage"])
