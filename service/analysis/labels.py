"""The eleven labels of docs/taxonomy.md: a contract.

The API returns them, the training data uses them and the evaluation script reads them;
change them only together, everywhere.
"""

NONE = "none"

RISK_LABELS: tuple[str, ...] = (
    "schedule",
    "budget",
    "resource",
    "scope",
    "technical",
    "security",
    "legal",
    "vendor",
    "quality",
    "stakeholder",
)

LABELS: tuple[str, ...] = RISK_LABELS + (NONE,)
