"""The made-up company of the demo: teams, products, channels, campaigns, staff and stories.

Only data lives here (numbers the generator draws around); :mod:`crmkit.sources.demo`
explains the stories they plant. Arrays are indexed by position: teams by
``ENT, MM, SMB, PAR``, segments by 0 (enterprise), 1 (midmarket), 2 (smb).
"""

from __future__ import annotations

import numpy as np

#: (team_id, name) of the four demo teams.
TEAMS: tuple[tuple[str, str], ...] = (
    ("enterprise", "Enterprise"),
    ("midmarket", "Mid-Market"),
    ("smb", "SMB"),
    ("partners", "Partners"),
)
ENT, MM, SMB, PAR = range(4)

#: The ordered sales pipeline: (stage, probability).
STAGES: tuple[tuple[str, float], ...] = (
    ("qualification", 0.1),
    ("discovery", 0.25),
    ("proposal", 0.5),
    ("negotiation", 0.75),
    ("commitment", 0.9),
)

#: Products with their price multiplier against the segment's typical deal.
PRODUCTS: tuple[tuple[str, float], ...] = (
    ("CRM Core", 1.0),
    ("CRM Professional", 1.6),
    ("Analytics Add-on", 0.55),
    ("Support Plus", 0.4),
    ("Onboarding Services", 0.45),
)
PRODUCT_P = np.array(
    [  # by segment: enterprise, midmarket, smb
        [0.20, 0.40, 0.20, 0.10, 0.10],
        [0.35, 0.30, 0.15, 0.10, 0.10],
        [0.50, 0.15, 0.10, 0.15, 0.10],
    ]
)
SEGMENTS = np.array(["enterprise", "midmarket", "smb"])
SEG_AMOUNT = np.array([40_000.0, 11_000.0, 2_500.0])  # median first deal by segment
AMOUNT_SIGMA = 0.25  # spread (log) of amounts around the price list
REPEAT_RATE = np.array([6.0, 3.0, 3.5])  # renewals, add-ons, more seats: deals a year by segment
REPEAT_AMOUNT = np.array([0.2, 0.35, 0.45])  # their size against a first deal
SEG_CYCLE = np.array([[4.0, 85.0], [3.5, 45.0], [3.0, 21.0]])  # gamma shape, mean days
TEAM_WIN = np.array([0.9, 1.0, 1.1, 1.0])
LOST_REASONS = np.array(["price", "competitor", "no_budget", "no_decision", "timing"])
LOST_P = np.array([0.32, 0.25, 0.15, 0.18, 0.10])

#: Monthly seasonality (Jan..Dec): weak summer and December, strong March, June, November.
SEASON = np.array([0.95, 1.0, 1.25, 1.05, 1.0, 1.2, 0.8, 0.72, 1.05, 1.1, 1.25, 0.72])
GROWTH = 0.20

# channel: (lead conversion, amount multiplier, win multiplier)
CHANNELS: dict[str, tuple[float, float, float]] = {
    "email": (0.12, 0.9, 1.0),
    "paid_search": (0.15, 1.0, 1.0),
    "social": (0.08, 0.8, 0.9),
    "events": (0.22, 1.4, 1.1),
    "referral": (0.35, 1.25, 1.2),
    "webinar": (0.18, 1.1, 1.05),
    "display": (0.03, 0.6, 0.55),
    "organic": (0.18, 1.0, 1.0),
    "direct": (0.25, 1.0, 1.1),
}

# name, channel, team index (None: company-wide), start, duration days (None: still running
# at the end), cost per day, leads per day.  A start is days before the end of the data, or
# (month, day) for a date of the calendar: its latest occurrence at least 30 days before the end.
CAMPAIGNS: tuple[tuple[str, str, int | None, int | tuple[int, int], int | None, float, float], ...] = (
    ("Always-on Search", "paid_search", SMB, 880, None, 100.0, 2.3),
    ("Monthly Newsletter", "email", MM, 880, None, 180.0, 1.7),
    ("LinkedIn Thought Leadership", "social", MM, 430, None, 55.0, 1.0),
    ("Spring Trade Fair", "events", ENT, (3, 12), 4, 20_000.0, 8.0),
    ("Partner Referral Program", "referral", PAR, 880, None, 180.0, 1.1),
    ("Product Webinars", "webinar", ENT, 560, None, 240.0, 0.25),
    ("Summer Promo Mailing", "email", SMB, (6, 23), 45, 110.0, 4.0),
    ("Programmatic Display Push", "display", SMB, 170, None, 230.0, 2.0),
    ("Industry Summit", "events", ENT, (10, 7), 3, 25_000.0, 10.0),
    ("Instagram Stories", "social", SMB, 330, 120, 35.0, 2.0),
    ("Mid-Market Webinar Series", "webinar", MM, 300, 200, 160.0, 0.7),
    ("Brand Search", "paid_search", None, 430, None, 60.0, 0.8),
    ("Executive Roundtables", "events", ENT, 500, None, 300.0, 0.4),
)
NEGATIVE_CAMPAIGN = 7  # the display push
#: Channels that also bring existing customers back: this share of their team's repeat deals
#: created while one runs is credited to it.
NURTURE_CHANNELS = ("email", "webinar", "events")
NURTURE_SHARE = 0.04

# Roster of one business unit, team by team.  Stories pick fixed positions in it.
STAFFING: tuple[tuple[int, tuple[str, ...]], ...] = (
    (ENT, ("manager", *("sales",) * 4, "support", "marketing")),
    (MM, ("manager", *("sales",) * 5, "support", "marketing")),
    (SMB, ("manager", *("sales",) * 6, *("support",) * 3, "marketing")),
    (PAR, ("manager", *("sales",) * 3)),
)
ROSTER: tuple[tuple[int, str], ...] = tuple((team, role) for team, roles in STAFFING for role in roles)
IDLE = 21  # smb sales #6
LEAVER = 20  # smb sales #5, leaves ~4 months before the end
NEW_HIRES = (4, 29)  # enterprise sales #4 (~9 months), partners sales #3 (~5 months)
OVERLOADED = 22  # smb support #1

#: Ids of the planted story subjects at scale 1.  At larger scales every business unit
#: has its own, with the unit number after the dash (``e-0022`` in unit 0 at scale 10).
STORY_IDLE_REP = f"e-{IDLE + 1:03d}"
STORY_OVERLOADED_AGENT = f"e-{OVERLOADED + 1:03d}"
STORY_NEGATIVE_ROI_CAMPAIGN = f"cmp-{NEGATIVE_CAMPAIGN + 1:02d}"


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST = _words(
    "Anna Ben Clara David Elena Felix Greta Hugo Ines Jonas Katja Lars Mia Noah Olga Paul "
    "Quinn Rosa Sven Tina Uwe Vera Willem Xenia Yusuf Zoe Amir Bianca Carlos Dana Emil Fatima "
    "Georg Hanna Ivan Julia Karim Lena Marco Nina Oskar Petra Rafael Sofia Tomas Ulla Viktor "
    "Wanda Yara Zeno Aiko Bruno Chiara Dmitri Eva Finn Gil Helga Igor Jana"
)
LAST = _words(
    "Schmidt Novak Rossi Dubois Jensen Kowalski Silva Meyer Horvat Lindqvist Moreau Bauer "
    "Costa Nowak Fischer Berg Keller Wagner Ricci Petrov Varga Lund Ortega Becker Hoffmann "
    "Marino Blom Sato Laine Weber Kraus Dahl Ferreira Brandt Sokolova Vogel Roth Janssen "
    "Navarro Engel Peters Koch Haas Simon Wolf Frank Lorenz Hartmann Winter Stein Kaiser "
    "Fuchs Lang Weiss Baumann Graf Arnold Bianchi Krause Popescu"
)
CO_A = _words(
    "Nordic Alpine Blue Bright Cedar Clear Delta Eastern Fair Green Harbor Iron Lumen Maple "
    "Meridian North Oak Pioneer Quantum River Silver Summit Urban Vector West Zenith Atlas "
    "Beacon Crown Falcon"
)
CO_B = _words(
    "Logistics Foods Systems Health Retail Energy Labs Media Tools Partners Works Dynamics "
    "Analytics Textiles Motors Pharma Finance Hotels Robotics Design"
)
CO_C = np.array(["GmbH", "Ltd", "AG", "S.A.", "B.V.", "Oy", "AB", "SE", "Group", "& Co"])
INDUSTRIES = np.array(
    [
        "software",
        "manufacturing",
        "retail",
        "healthcare",
        "finance",
        "logistics",
        "education",
        "hospitality",
        "media",
        "energy",
    ]
)
REGIONS = np.array(["DACH", "Nordics", "UK & Ireland", "Benelux", "France", "Iberia", "Italy", "CEE"])
REGION_P = np.array([0.24, 0.12, 0.16, 0.11, 0.12, 0.09, 0.08, 0.08])

ACTIVITY_TYPES = np.array(["call", "email", "meeting", "message", "site_visit", "request", "note", "other"])
TASK_TYPES = np.array(["follow_up", "call_back", "send_proposal", "prepare_meeting", "admin"])
TICKET_CHANNELS = np.array(["email", "phone", "chat", "portal"])
PRIORITIES = np.array(["low", "normal", "high", "urgent"])
SLA_HOURS = np.array([24.0, 8.0, 4.0, 1.0])
FIRST_RESPONSE_H = np.array([6.0, 2.5, 1.2, 0.4])  # median by priority

COMMENTS = {
    "promoter": [
        "Great product, the team really listens.",
        "Setup was quick and the reports save us hours every week.",
        "Support answered within minutes. Impressed!",
        "Exactly what we needed for our sales team.",
        "Solid tool, fair price, friendly people.",
        "The new dashboard is fantastic.",
    ],
    "passive": [
        "Works fine, a few features are missing.",
        "Good overall, but the mobile app is slow.",
        "OK for now, we are still evaluating.",
        "Decent, the import could be easier.",
        "Does the job.",
    ],
    "detractor": [
        "Too expensive for what it does.",
        "The sync with our mail server keeps failing.",
        "Support took days to reply.",
        "Hard to use, our reps went back to spreadsheets.",
        "Billing was wrong twice this quarter.",
        "Missing the integrations we were promised.",
    ],
}
