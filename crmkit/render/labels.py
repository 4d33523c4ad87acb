"""Names people read for the identifier-like values of the data (channels, segments,
stages, activity types, statuses): ``paid_search`` → "Paid search", ``smb`` → "SMB".

Only values that look like identifiers (lower case letters, digits and underscores) are
changed; anything else (a customer's or a campaign's own name) is shown as it is. The words
are a message of the catalogue (:mod:`crmkit.i18n`: "Paid search" is "Платный поиск" in
Russian); :data:`SHOWN` lists the values and columns the reports show, for the catalogue. Teams
are named by the store (``ctx.team_name`` / ``store.team_name``), not here.
"""

from __future__ import annotations

import re
from typing import Any

from crmkit.i18n import N_
from crmkit.i18n import gettext as _

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
    if text.startswith("(") and text.endswith(")"):  # crmkit's own "(no team)", "(unknown)"
        return _(text)
    if not _IDENTIFIER.fullmatch(text):
        return text
    words = [_WORDS.get(w, w) for w in text.split("_")]
    first = words[0]
    words[0] = first if first in _WORDS.values() else first.capitalize()
    return _(" ".join(words))


def column_label(name: str) -> str:
    """A column heading from a column name: ``deals_won`` → "Deals won"."""
    return label(name) if _IDENTIFIER.fullmatch(name) else name


#: The identifier-like values and column names the reports show, in words: listed so that
#: the catalogue has them (``python -m crmkit.locale.extract``); :func:`label` translates.
SHOWN = (
    N_("(no campaign)"), N_("(no customer)"), N_("(no employee)"), N_("(no team)"),
    N_("(unknown)"),
    N_("About to sleep"), N_("Acquired customers"), N_("Active"), N_("Activities"),
    N_("Activities call"), N_("Activities change"), N_("Activities email"),
    N_("Activities meeting"), N_("Activities message"), N_("Activities note"),
    N_("Activities other"), N_("Activities previous"), N_("Activities rank"),
    N_("Activities request"), N_("Activities site visit"), N_("Actual"), N_("Admin"),
    N_("Advanced"), N_("Amount"), N_("Amount changes"), N_("At risk"), N_("Avg deal size"),
    N_("Band"), N_("CAC"), N_("CES"), N_("CES high"), N_("CES low"), N_("CES responses"),
    N_("CSAT"), N_("CSAT change"), N_("CSAT change pp"), N_("CSAT good"), N_("CSAT high"),
    N_("CSAT low"), N_("CSAT previous"), N_("CSAT rank"), N_("CSAT responses"), N_("Call"),
    N_("Call back"), N_("Campaign ID"), N_("Campaigns"), N_("Can't lose"), N_("Champions"),
    N_("Change"), N_("Change pp"), N_("Channel"), N_("Chat"), N_("Closed"), N_("Closing"),
    N_("Cohort"), N_("Comment"), N_("Commitment"), N_("Comparison"), N_("Comparison share"),
    N_("Competitor"), N_("Converted"), N_("Converted share"), N_("Cost"), N_("Cost per lead"),
    N_("Customer ID"), N_("Customers"), N_("Date"), N_("Days since contact"), N_("Deals"),
    N_("Deals closed"), N_("Deals counted"), N_("Deals lost"), N_("Deals won"),
    N_("Deals won change"), N_("Deals won previous"), N_("Deals won rank"), N_("Detractor"),
    N_("Detractors"), N_("Direct"), N_("Discovery"), N_("Display"), N_("Disqualified"),
    N_("Education"), N_("Effort score"), N_("Email"), N_("Employed"), N_("Employee ID"),
    N_("Employees"), N_("Energy"), N_("Enterprise"), N_("Error"), N_("Events"), N_("Finance"),
    N_("First response minutes P90"), N_("First response minutes P90 change"),
    N_("First response minutes P90 previous"), N_("First response minutes P90 rank"),
    N_("First response minutes median"), N_("First response minutes median change"),
    N_("First response minutes median previous"), N_("First response minutes median rank"),
    N_("Follow up"), N_("Forecast"), N_("Frequency mean"), N_("Full comparison"),
    N_("Full period"), N_("Healthcare"), N_("Hibernating"), N_("High"), N_("Hired at"),
    N_("Hospitality"), N_("Interactions"), N_("Is agent"), N_("Is seller"), N_("Kind"),
    N_("Last contact"), N_("Later"), N_("Lead conversion"), N_("Lead conversion high"),
    N_("Lead conversion low"), N_("Leads"), N_("Left at"), N_("Logistics"), N_("Lost"), N_("Low"),
    N_("Loyal"), N_("Manager"), N_("Manufacturing"), N_("Marketing"), N_("Media"), N_("Meeting"),
    N_("Message"), N_("Metric"), N_("Mid-Market"), N_("Monetary mean"), N_("Month"),
    N_("Month offset"), N_("NPS"), N_("NPS high"), N_("NPS low"), N_("NPS responses"), N_("Name"),
    N_("Need attention"), N_("Negotiation"), N_("Never active"), N_("New"), N_("No SLA"),
    N_("No budget"), N_("No decision"), N_("Normal"), N_("Not satisfied"), N_("Note"), N_("Open"),
    N_("Open pipeline"), N_("Opening"), N_("Organic"), N_("Other"), N_("Overdue"), N_("Owner"),
    N_("P value"), N_("Paid search"), N_("Part"), N_("Partners"), N_("Passive"), N_("Passives"),
    N_("Phone"), N_("Portal"), N_("Potential loyalist"), N_("Prepare meeting"), N_("Price"),
    N_("Product"), N_("Promising"), N_("Promoter"), N_("Promoters"), N_("Proposal"),
    N_("Provisional"), N_("Qualification"), N_("Quota attainment"), N_("Quota attainment change"),
    N_("Quota attainment change pp"), N_("Quota attainment previous"),
    N_("Quota attainment rank"), N_("Quota target"), N_("ROI"), N_("Reached"),
    N_("Recency days median"), N_("Referral"), N_("Relative error"), N_("Removed"), N_("Request"),
    N_("Resolution hours median"), N_("Resolution hours median change"),
    N_("Resolution hours median previous"), N_("Resolution hours median rank"),
    N_("Responded at"), N_("Response ID"), N_("Responses"), N_("Retail"), N_("Retained"),
    N_("Revenue"), N_("Revenue 365d"), N_("Revenue change"), N_("Revenue previous"),
    N_("Revenue rank"), N_("Revenue share"), N_("Revenue sumsq"), N_("Role"),
    N_("SLA compliance"), N_("SLA compliance change"), N_("SLA compliance change pp"),
    N_("SLA compliance previous"), N_("SLA compliance rank"), N_("SLA met"), N_("SLA missed"),
    N_("SLA pending"), N_("SMB"), N_("Sales"), N_("Satisfied"), N_("Score"), N_("Segment"),
    N_("Send proposal"), N_("Share"), N_("Share change"), N_("Share changed?"), N_("Site visit"),
    N_("Slipped"), N_("Small sample"), N_("Snapshot date"), N_("Social"), N_("Software"),
    N_("Stage"), N_("Status"), N_("Support"), N_("Tasks completed"), N_("Tasks completed change"),
    N_("Tasks completed previous"), N_("Tasks completed rank"), N_("Tasks due"),
    N_("Tasks no due"), N_("Tasks on time"), N_("Tasks on time rate"),
    N_("Tasks on time rate change"), N_("Tasks on time rate change pp"),
    N_("Tasks on time rate previous"), N_("Tasks on time rate rank"), N_("Tasks overdue"),
    N_("Tasks overdue change"), N_("Tasks overdue previous"), N_("Tasks overdue rank"),
    N_("Team"), N_("Team ID"), N_("Team median"), N_("Team median previous"),
    N_("Tickets answered"), N_("Tickets assigned"), N_("Tickets resolved"),
    N_("Tickets resolved change"), N_("Tickets resolved previous"), N_("Tickets resolved rank"),
    N_("Tickets unanswered"), N_("Tickets unanswered change"), N_("Tickets unanswered previous"),
    N_("Tickets unanswered rank"), N_("Timing"), N_("Total"), N_("Total (campaigns in scope)"),
    N_("Type"), N_("Unanswered past SLA"), N_("Unknown"), N_("Urgent"), N_("Webinar"),
    N_("Weighted"), N_("Win rate"), N_("Win rate change"), N_("Win rate change pp"),
    N_("Win rate high"), N_("Win rate low"), N_("Win rate previous"), N_("Win rate rank"),
    N_("Won"), N_("Won share"), N_("Working"), N_("Workload"), N_("Workload flag"),
    N_("Workload ratio"), N_("Workload role median"), N_("minutes"),
)
