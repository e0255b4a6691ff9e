"""A sentence that reports a risk resolved (issue #85 item 2).

"The shared admin password in staging has been replaced … and we have closed that risk." is
read as a `security` risk by the model (it names one) and joins the open entry it speaks of:
as a restatement it became the entry's title, and the entry read "closed" while open. Such a
sentence is news about the risk, not the risk: it joins the entry it speaks of, but it is
never its title and never reopens it (register.py), and the entry then offers "this report
says it is closed: close it?" (the ``closing`` of its findings' ``joined_by``).

Told by its words: a person or a report saying the risk (or the issue, the problem) was
closed, resolved, mitigated, retired or removed, or is no longer one. A sentence that only
hopes so ("should be resolved by June", "may be closed once…") is a risk still: a modal or
future before the verb keeps it one.
"""

from __future__ import annotations

import re

_DONE = (r"(?:closed|resolved|mitigated|retired|removed|eliminated|addressed|fixed|"
         r"cleared|lifted|averted|solved)")
_THING = r"(?:risk|issue|problem|concern|blocker|threat|dependency|item)s?"
_SAID = [
    # "we have closed that risk", "we closed the risk", "the team has resolved this issue"
    (rf"\b(?:have|has|had)\s+(?:now\s+|since\s+|finally\s+)?{_DONE}\s+(?:that|this|the|"
     rf"these|those|it|them)\b(?:\s+{_THING})?"),
    rf"\bwe\s+{_DONE}\s+(?:that|this|the|it)\b",
    # "the risk has been closed", "this issue was resolved", "is now mitigated"
    rf"\b{_THING}\s+(?:has|have|had)\s+(?:now\s+)?been\s+{_DONE}\b",
    rf"\b{_THING}\s+(?:is|are|was|were)\s+(?:now\s+|fully\s+)?{_DONE}\b",
    # "is no longer a risk", "no longer an issue", "not a risk any more"
    rf"\bno\s+longer\s+(?:a|an|any)\s+{_THING}\b",
    rf"\bnot\s+(?:a|an)\s+{_THING}\s+any\s*more\b",
    # "... and is closed.", "(closed)", "Status: closed"
    r"\bstatus\s*:\s*(?:closed|resolved)\b",
    r"\((?:closed|resolved|mitigated)\)",
]
_CLOSED = re.compile("|".join(f"(?:{pattern})" for pattern in _SAID), re.IGNORECASE)
# A hope or a plan is not a report: "should be resolved", "will have closed", "may be".
_HOPED = re.compile(r"\b(?:will|would|should|shall|may|might|could|must|can|expect(?:s|ed)?\s+"
                    r"to|plan(?:s|ned)?\s+to|hope(?:s|d)?\s+to|once|until|unless|if)\b[^.;]*$",
                    re.IGNORECASE)


def says_closed(sentence: str) -> bool:
    """Whether ``sentence`` reports a risk closed, resolved or no longer one (the module's
    rule), not only hoped to be."""
    for found in _CLOSED.finditer(sentence):
        if not _HOPED.search(sentence[:found.start()] + found.group()[:1]):
            return True
    return False
