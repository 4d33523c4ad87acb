"""The JSON twin's values and file: records made column by column give what pandas' records,
:func:`clean` and :func:`json_safe` give value by value, and the file is valid JSON whatever a custom
notebook's twin holds; an open dataset reads its teams once."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from crmkit.backends.base import OpenDataset
from crmkit.metrics import _frames as F
from crmkit.publish.runner import _twin_file
from crmkit.reports.data import json_safe


def _records_value_by_value(df: pd.DataFrame) -> list[dict]:
    """What records gave before it went column by column: the reference."""
    out = []
    for row in df.to_dict(orient="records"):
        rec = {}
        for k, v in row.items():
            v = F.clean(v)
            rec[str(k)] = v.isoformat() if isinstance(v, datetime | date) else v
        out.append(rec)
    return out


FRAMES = {
    "numbers": pd.DataFrame({"i": np.array([1, -2, 3], dtype=np.int64),
                             "u": np.array([1, 2, 2**64 - 1], dtype=np.uint64),
                             "b": [True, False, True],
                             "f": [1.5, np.nan, -0.0], "g": [np.inf, -np.inf, 2.0],
                             "f32": np.array([0.1, np.nan, 3], dtype=np.float32)}),
    "nullable": pd.DataFrame({"i": pd.array([1, None, 3], dtype="Int64"),
                              "f": pd.array([1.5, None, np.inf], dtype="Float64"),
                              "b": pd.array([True, None, False], dtype="boolean"),
                              "s": pd.array(["x", None, "Ольга"], dtype="string[pyarrow]"),
                              "a": pd.array([1, None, 2], dtype=pd.ArrowDtype(pa.int64())),
                              "text": pd.Series(["x", None, "y"]),  # pandas' default text
                              "o": pd.Series(["x", None, 10**20], dtype=object)}),
    "dates": pd.DataFrame({"t": pd.to_datetime(["2025-06-01 10:00", None, "2025-06-03 00:00"]),
                           "tz": pd.to_datetime(["2025-06-01", None, "2025-06-03"]).tz_localize("UTC"),
                           "d": [date(2025, 6, 1), None, date(2025, 6, 3)],
                           "td": pd.to_timedelta(["1 day", None, "5 s"])}),
    "instants": pd.DataFrame({  # whole seconds are written at once, the others one by one
        "whole": pd.to_datetime(["2020-07-07 09:00:00", None, "1960-01-01 00:00:59"]),
        "fraction": pd.to_datetime(["2020-07-07 09:00:00.5", None, "1960-01-01 00:00:00"],
                                   format="ISO8601"),
        "micro": pd.to_datetime(["2025-06-30 23:59:59", None, "1900-02-28 12:00:00"]).astype(
            "datetime64[us]"),
        "none": pd.Series([None, None, None], dtype="datetime64[ns]")}),
    "objects": pd.DataFrame({"o": pd.Series([np.datetime64("2025-06-01T00:00:00", "ns"),
                                             np.timedelta64(5, "s"), np.float64("nan")], dtype=object),
                             "m": pd.Series([Decimal("1.5"), np.int64(7), None], dtype=object),
                             "c": pd.Categorical(["a", None, "b"])}),
    "duplicate names": pd.DataFrame([[1, "x", 2.5]], columns=["a", "a", 3]),
    "no rows": pd.DataFrame({"a": pd.Series([], dtype=float), "b": pd.Series([], dtype=object)}),
    "no columns": pd.DataFrame(index=range(2)),
}


@pytest.mark.filterwarnings("ignore:DataFrame columns are not unique")  # the reference's
@pytest.mark.parametrize("name", FRAMES)
def test_records_are_what_pandas_records_and_clean_give(name):
    frame = FRAMES[name]
    made, reference = F.records(frame), json_safe(_records_value_by_value(frame))
    # JSON-safe as made: the twin does not walk its breakdowns again
    assert json.dumps(made, allow_nan=False) == json.dumps(reference, allow_nan=False)
    assert json_safe(made) == made
    assert [list(r) for r in made] == [list(r) for r in reference]
    for row, expected in zip(made, reference, strict=True):  # the same types, not only equal
        assert [type(v) for v in row.values()] == [type(v) for v in expected.values()]


def test_instants_in_whole_seconds_take_the_fast_path_and_others_do_not():
    """The check that decides it is made in the column's own unit: a microsecond column
    with a placeholder date far from 1970 is still in whole seconds."""
    frame = FRAMES["instants"]
    assert F._whole_seconds(frame["whole"].to_numpy()) is not None
    assert F._whole_seconds(frame["fraction"].to_numpy()) is None
    far = np.array(["0001-01-01T00:00:00", "9999-12-31T23:59:59", "NaT"], dtype="datetime64[us]")
    assert F._whole_seconds(far) == ["0001-01-01T00:00:00", "9999-12-31T23:59:59", None]
    assert F._whole_seconds(np.array(["9999-12-31T23:59:59.5"], dtype="datetime64[us]")) is None
    assert F._whole_seconds(np.array(["10000-01-01"], dtype="datetime64[s]")) is None
    assert F._whole_seconds(np.array(["2025-06-01"], dtype="datetime64[D]")) == [
        "2025-06-01T00:00:00"]


def test_a_twin_sent_as_text_with_nan_is_published_as_valid_json():
    payload = json.loads('{"report": "x", "metrics": {"r": NaN, "s": Infinity, "t": 1.5}}')
    text, published = _twin_file(payload)
    assert published == json.loads(text)
    assert json.loads(text) == {"report": "x", "metrics": {"r": None, "s": None, "t": 1.5}}
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(_twin_file({"metrics": {"t": 2}})[0]) == {"metrics": {"t": 2}}


def test_an_open_dataset_reads_its_teams_once_and_hands_out_copies(monkeypatch):
    import crmkit.backends.base as base

    calls = []
    monkeypatch.setattr(base, "team_names", lambda frame: calls.append(frame) or {"t1": "One"})
    dataset = OpenDataset("x", {"teams": "frame"}, {}, [])  # type: ignore[dict-item]
    first = dataset.teams()
    first["t2"] = "Two"  # a caller's change stays the caller's
    assert dataset.teams() == {"t1": "One"} and len(calls) == 1
