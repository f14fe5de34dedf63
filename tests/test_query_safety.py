"""The filter language: clear errors for bad filters, and values that are only ever data."""
import pytest
import sqlalchemy as sa
from mlwork.errors import QueryError, TrackingError
from mlwork.workspace import Workspace

NASTY = ["x'; DROP TABLE runs; --", "' OR '1'='1", 'a"b', "semi;colon", "back\\slash", "%", "_"]


@pytest.fixture
def ws(ws_root):
    with Workspace.open(ws_root) as ws:
        for i, v in enumerate(NASTY):
            with ws.start_run("inj", name=v, params={"v": v}, tags={"t": v}) as r: r.log_metric("m", i)
        yield ws


@pytest.mark.parametrize("value", NASTY)
def test_quotes_and_semicolons_in_values_are_data(ws, value):
    quoted = "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
    for field in ("params.v", "tags.t", "name"):
        df = ws.runs("inj", where=f"{field} = {quoted}")
        assert list(df.name) == [value], (field, quoted)
    assert len(ws.runs("inj")) == len(NASTY)
    with ws.store.transaction(write=False) as conn:
        assert sa.inspect(conn).has_table("runs")


@pytest.mark.parametrize("where", [
    "metrics.m > 1; DROP TABLE runs",
    "metrics.m > 1 -- comment",
    "params.v = x",
    "1 = 1",
    "metrics.m > 1 or 1=1",
    "name = 'a' union select * from runs",
])
def test_injection_attempts_are_parse_errors(ws, where):
    with pytest.raises(QueryError, match="position"):
        ws.runs("inj", where=where)
    assert len(ws.runs("inj")) == len(NASTY)


@pytest.mark.parametrize("where, position, expected", [
    ("metrics.auc >", 13, "a number or a quoted string"),
    ("metrics.auc 0.8", 12, "an operator"),
    ("(metrics.auc > 1", 16, "')'"),
    ("metrics.auc > 1 and", 19, "a field"),
    ("metrics.auc > 1 metrics.x < 2", 16, "'and', 'or'"),
    ("colour = 'red'", 0, "params.KEY, metrics.KEY, tags.KEY"),
    ("params.x = 'unterminated", 11, "a string closed with"),
    ("metrics.a ~ 3", 10, "a field, an operator or a value"),
])
def test_bad_filters_name_position_and_expectation(ws, where, position, expected):
    with pytest.raises(QueryError) as e:
        ws.runs("inj", where=where)
    assert f"position {position}" in str(e.value) and expected in str(e.value), str(e.value)


def test_bad_order_by_and_limit(ws):
    with pytest.raises(QueryError, match="one field"):
        ws.runs("inj", order_by="metrics.m; drop table runs")
    with pytest.raises(QueryError, match="limit"):
        ws.runs("inj", limit=-1)


def test_keys_cannot_smuggle_sql(ws):
    with ws.start_run("inj") as r:
        with pytest.raises(TrackingError, match="metric name"):
            r.log_metric("m'); DROP TABLE runs; --", 1.0)
