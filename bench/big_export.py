"""Write a canonical-shape export folder with a large activities.csv (for ``make bench``).

``python bench/big_export.py FOLDER [--rows 3300000]`` writes teams.csv, employees.csv,
customers.csv, deals.csv and activities.csv (about 200 MB at the default 3.3 M rows),
deterministic (seeded numpy), in a few seconds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

TYPES = np.array(["call", "email", "meeting", "message", "site_visit", "request", "note", "other"])
DIRECTIONS = np.array(["inbound", "outbound", ""])


def _times(start: str, days: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` whole-second times in the ``days`` after ``start`` (CSV: ``2024-05-12 15:34:19``)."""
    return np.datetime64(start, "s") + rng.integers(0, days * 86400, n).astype("timedelta64[s]")


def _ids(prefix: str, n: int) -> np.ndarray:
    return np.char.add(prefix, np.arange(1, n + 1).astype(str))


def _small_tables(folder: Path, rng: np.random.Generator, n_emp: int, n_cust: int, n_deals: int) -> None:
    teams = pd.DataFrame({"team_id": ["smb", "ent", "mid"], "name": ["Small business", "Enterprise", "Mid"]})
    teams.to_csv(folder / "teams.csv", index=False)
    emp = _ids("e-", n_emp)
    pd.DataFrame(
        {"employee_id": emp, "name": np.char.add("Person ", emp), "team_id": rng.choice(teams.team_id, n_emp)}
    ).to_csv(folder / "employees.csv", index=False)
    cust = _ids("c-", n_cust)
    created = _times("2023-01-01", 365, n_cust, rng)
    pd.DataFrame({"customer_id": cust, "name": np.char.add("Customer ", cust), "created_at": created}).to_csv(
        folder / "customers.csv", index=False
    )
    deals = _ids("d-", n_deals)
    opened = _times("2024-01-01", 365, n_deals, rng)
    pd.DataFrame(
        {
            "deal_id": deals,
            "owner_id": rng.choice(emp, n_deals),
            "created_at": opened,
            "status": "open",
            "amount": rng.integers(100, 100_000, n_deals),
        }
    ).to_csv(folder / "deals.csv", index=False)


def _activities(folder: Path, rng: np.random.Generator, rows: int, sizes: tuple[int, int, int]) -> None:
    n_emp, n_cust, n_deals = sizes
    chunk = 500_000
    with open(folder / "activities.csv", "w", encoding="utf-8", newline="") as f:
        f.write("activity_id,occurred_at,type,customer_id,employee_id,deal_id,direction,duration_s\n")
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            at = _times("2024-01-01", 540, n, rng)
            deals = np.char.add("d-", rng.integers(1, n_deals + 1, n).astype(str))
            deal = np.where(rng.random(n) < 0.4, deals, "")
            df = pd.DataFrame(
                {
                    "activity_id": np.char.add("a-", np.arange(start + 1, start + n + 1).astype(str)),
                    "occurred_at": at,
                    "type": TYPES[rng.integers(0, len(TYPES), n)],
                    "customer_id": np.char.add("c-", rng.integers(1, n_cust + 1, n).astype(str)),
                    "employee_id": np.char.add("e-", rng.integers(1, n_emp + 1, n).astype(str)),
                    "deal_id": deal,
                    "direction": DIRECTIONS[rng.integers(0, 3, n)],
                    "duration_s": rng.integers(0, 3600, n),
                }
            )
            df.to_csv(f, index=False, header=False)


def write_export(folder: Path, rows: int = 3_300_000, seed: int = 7) -> Path:
    """Write the export folder and return the path of its activities.csv."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n_emp, n_cust, n_deals = 200, 20_000, 50_000
    _small_tables(folder, rng, n_emp, n_cust, n_deals)
    _activities(folder, rng, rows, (n_emp, n_cust, n_deals))
    return folder / "activities.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--rows", type=int, default=3_300_000)
    args = parser.parse_args()
    path = write_export(args.folder, args.rows)
    print(f"{path}: {path.stat().st_size / 1e6:.0f} MB, {args.rows:,} rows")


if __name__ == "__main__":
    main()
