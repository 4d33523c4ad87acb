"""Names people read for the identifier-like values of the data (channels, segments,
stages, activity types, statuses): ``paid_search`` → "Paid search", ``smb`` → "SMB".

Only values that look like identifiers (lower case letters, digits and underscores) are
changed; anything else (a customer's or a campaign's own name) is shown as it is. Teams
are named by the store (``ctx.team_name`` / ``store.team_name``), not here.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["label", "column_label"]

_IDENTIFIER = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")

#: Words whose usual spelling is not the capitalised identifier.
_WORDS = {
    "smb": "SMB", "midmarket": "Mid-Market", "sla": "SLA", "nps": "NPS", "csat": "CSAT",
    "ces": "CES", "cac": "CAC", "roi": "ROI", "rfm": "RFM", "crm": "CRM", "seo": "SEO",
    "ppc": "PPC", "id": "ID", "b2b": "B2B", "b2c": "B2C", "p90": "P90", "pp": "pp",
}


def label(value: Any) -> str:
    """The name shown for a data value: identifier-like text in words, the rest unchanged."""
    text = "" if value is None else str(value)
    if not _IDENTIFIER.fullmatch(text):
        return text
    words = [_WORDS.get(w, w) for w in text.split("_")]
    first = words[0]
    words[0] = first if first in _WORDS.values() else first.capitalize()
    return " ".join(words)


def column_label(name: str) -> str:
    """A column heading from a column name: ``deals_won`` → "Deals won"."""
    return label(name) if _IDENTIFIER.fullmatch(name) else name
