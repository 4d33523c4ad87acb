"""Which customers a report counts, so that every customer counts for one team.

A fact (an activity, a deal) belongs to the team of its employee (DATA_MODEL.md), so a
customer served by two teams shows up in both teams' facts. Customer figures (active, new
and retained customers, customer status, RFM, cohorts, the customers that went quiet) count
*customers* instead, each for one team:

* a customer belongs to the team of its owner (``customers.owner_id``); a customer without
  an owner, to the team of the owner of its first won deal; a customer with neither counts
  for the company only;
* a customer's figures use all its activities and won deals, whoever logged them;
* a customer is new once, company-wide: its first won deal ever (the earliest ``closed_at``
  of all its won deals, whichever team won them; ties: the smallest ``deal_id``).

So team figures add up to the company figure. Pure functions of unscoped canonical tables
(any frame :func:`crmkit.metrics._frames.lazy` accepts), lazily: nothing is collected but
the team's member ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import narwhals as nw

from crmkit.metrics import _frames as F
from crmkit.metrics._frames import Frame
from crmkit.parameters import ALL_TEAMS

__all__ = ["CustomerBook", "book", "first_won_deals", "members", "team_customers"]


def _won(deals: Frame) -> nw.LazyFrame:
    return F.lazy(deals).filter(
        (nw.col("status") == "won") & ~nw.col("customer_id").is_null()
        & ~nw.col("closed_at").is_null()
    )


def first_won_deals(deals: Frame) -> nw.LazyFrame:
    """Each customer's first won deal ever: ``customer_id, deal_id, owner_id, closed_at``
    (the earliest ``closed_at``; ties: the smallest ``deal_id``). Pass the unscoped deals:
    a team's deals would give the first deal *that team* won."""
    won = _won(deals)
    first_at = won.group_by("customer_id").agg(_first_at=nw.col("closed_at").min())
    first = (
        won.select("customer_id", "deal_id", "closed_at")
        .join(first_at, on="customer_id", how="inner")
        .filter(nw.col("closed_at") == nw.col("_first_at"))
        .group_by("customer_id").agg(nw.col("deal_id").min())
    )
    return first.join(won.select("deal_id", "owner_id", "closed_at"), on="deal_id", how="inner")


def members(employees: Frame, team: str) -> list[str]:
    """The employee ids of a team (its current members), sorted."""
    df = F.to_pandas(F.lazy(employees).filter(nw.col("team_id") == team).select("employee_id"))
    return sorted(df["employee_id"].astype(str))


def team_customers(customers: Frame, deals: Frame, member_ids: list[str]) -> nw.LazyFrame:
    """``customer_id`` of the customers of the team made of ``member_ids``: those whose
    owner is a member, and those without an owner whose first won deal's owner is one."""
    people = list(member_ids)
    first_owner = first_won_deals(deals).select(
        "customer_id", nw.col("owner_id").alias("_first_owner")
    )
    return (
        F.lazy(customers).select("customer_id", "owner_id")
        .join(first_owner, on="customer_id", how="left")
        .filter(nw.col("owner_id").is_in(people)
                | (nw.col("owner_id").is_null() & nw.col("_first_owner").is_in(people)))
        .select("customer_id")
    )


@dataclass(frozen=True)
class CustomerBook:
    """The customers a report counts, with every activity and deal of theirs (whoever
    logged it): what customer figures are computed from."""

    customers: Frame
    activities: Frame
    deals: Frame


def book(tables: Mapping[str, Frame], team: str) -> CustomerBook:
    """The customers of ``team`` (``all``: every customer) with all their activities and
    deals, from the unscoped tables."""
    if team == ALL_TEAMS:
        return CustomerBook(tables["customers"], tables["activities"], tables["deals"])
    ids = team_customers(tables["customers"], tables["deals"], members(tables["employees"], team))

    def theirs(name: str) -> nw.LazyFrame:
        return F.lazy(tables[name]).join(ids, on="customer_id", how="semi")

    return CustomerBook(theirs("customers"), theirs("activities"), theirs("deals"))
