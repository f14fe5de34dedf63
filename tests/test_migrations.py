"""Stores made by older schema revisions upgrade; newer ones are refused; empty ones are created."""
import time, uuid
import pytest
import sqlalchemy as sa
from alembic import command
from mlwork.config import load_settings
from mlwork.errors import SchemaVersionError
from mlwork.store import Store, HEAD_REVISION, REVISIONS, _alembic_config
from mlwork.workspace import Workspace
from conftest import mlwork_cli


def _first_schema_store(ws_root):
    "A store at the first revision, with data written the way that schema allowed."
    url = load_settings(ws_root, env={}).store
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), REVISIONS[0])
        now = time.time()
        conn.execute(sa.text("INSERT INTO experiments (name, created_at) VALUES ('old', :t)"), {"t": now})
        for status in ("FINISHED", "RUNNING"):
            rid = uuid.uuid4().hex
            conn.execute(sa.text("INSERT INTO runs (id, experiment_id, name, status, start_time) "
                                 "VALUES (:id, 1, :s, :s, :t)"), {"id": rid, "s": status, "t": now - 3600})
            conn.execute(sa.text("INSERT INTO params (run_id, key, value, num) VALUES (:id, 'lr', '0.1', 0.1)"), {"id": rid})
            conn.execute(sa.text("INSERT INTO latest_metrics (run_id, key, step, value, timestamp) "
                                 "VALUES (:id, 'auc', 0, 0.8, :t)"), {"id": rid, "t": now})
    engine.dispose()
    return url


def test_empty_store_is_created_at_head(ws_root):
    with Workspace.open(ws_root) as ws:
        assert ws.store.revision() == HEAD_REVISION


def test_first_schema_upgrades_on_open_and_keeps_data(ws_root):
    _first_schema_store(ws_root)
    assert Store(load_settings(ws_root, env={}).store, check=False).revision() == REVISIONS[0]
    with Workspace.open(ws_root) as ws:
        assert ws.store.revision() == HEAD_REVISION
        df = ws.runs("old", order_by="name")
        assert list(df.name) == ["FINISHED", "RUNNING"] and list(df["metrics.auc"]) == [0.8, 0.8]
        assert list(df["params.lr"]) == [0.1, 0.1]
        # the old RUNNING run has no liveness data and started an hour ago: reaped as dead
        assert len(ws.reaped) == 1 and ws.get_run(ws.reaped[0]).status == "FAILED"
        with ws.start_run("old") as run: run.log_metric("auc", 0.9)   # new code writes to the upgraded store
        assert len(ws.runs("old")) == 3


def test_upgrade_refused_when_disabled_then_done_by_cli(ws_root):
    _first_schema_store(ws_root)
    with pytest.raises(SchemaVersionError, match="mlwork db upgrade"):
        Workspace.open(ws_root, upgrade=False)
    res = mlwork_cli("db", "status", cwd=ws_root)
    assert res.returncode == 0 and "needs `mlwork db upgrade`" in res.stdout, res.stdout + res.stderr
    res = mlwork_cli("db", "upgrade", cwd=ws_root)
    assert res.returncode == 0 and f"upgraded {REVISIONS[0]} -> {HEAD_REVISION}" in res.stdout, res.stdout + res.stderr
    res = mlwork_cli("db", "upgrade", cwd=ws_root)
    assert res.returncode == 0 and "already at revision" in res.stdout


def test_newer_store_is_refused_with_a_clear_message(ws_root):
    with Workspace.open(ws_root) as ws:
        with ws.store.transaction() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = 'f00d'"))
    with pytest.raises(SchemaVersionError, match="newer mlwork"):
        Workspace.open(ws_root)
    res = mlwork_cli("runs", "ls", cwd=ws_root)
    assert res.returncode == 1 and "'f00d'" in res.stderr and "Upgrade mlwork" in res.stderr


def test_tag_tables_come_with_revision_0006(ws_root):
    "A store at 0005 with a registered model upgrades: the tag tables (0006) appear, empty, and take tags."
    assert REVISIONS.index("0006") == REVISIONS.index("0005") + 1
    url = load_settings(ws_root, env={}).store
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0005")
        assert not sa.inspect(conn).has_table("model_tags")
        now = time.time()
        conn.execute(sa.text("INSERT INTO experiments (name, created_at) VALUES ('e', :t)"), {"t": now})
        conn.execute(sa.text("INSERT INTO runs (id, experiment_id, status, start_time) VALUES ('r', 1, 'FINISHED', :t)"), {"t": now})
        conn.execute(sa.text("INSERT INTO models (name, created_at) VALUES ('m', :t)"), {"t": now})
        conn.execute(sa.text("INSERT INTO model_versions (name, version, run_id, archived, created_at) "
                             "VALUES ('m', 1, 'r', false, :t)"), {"t": now})
    engine.dispose()
    with Workspace.open(ws_root) as ws:
        assert ws.store.revision() == HEAD_REVISION
        assert ws.registry.tags("m") == {} and ws.registry.tags("m@1") == {}
        ws.registry.set_tag("m", "owner", "ann"); ws.registry.set_tag("m@1", "validated", "yes")
        assert (ws.registry.tags("m"), ws.registry.tags("m@latest")) == ({"owner": "ann"}, {"validated": "yes"})
        with ws.store.transaction() as conn:
            conn.execute(sa.text("INSERT INTO experiment_tags (experiment_id, key, value) VALUES (1, 'team', 'a')"))
            with pytest.raises(sa.exc.IntegrityError):      # a version's tags need the version
                with conn.begin_nested():
                    conn.execute(sa.text("INSERT INTO model_version_tags (name, version, key, value) VALUES ('m', 2, 'k', 'v')"))


def test_traffic_tables_and_shadow_segments_come_with_revision_0007(ws_root):
    "A store at 0006 with a logged segment upgrades: its segments are served ones (shadow false), traffic and leases work."
    from mlwork import traffic
    from mlwork.store import acquire_lease
    assert REVISIONS.index("0007") == REVISIONS.index("0006") + 1
    url = load_settings(ws_root, env={}).store
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0006")
        assert not sa.inspect(conn).has_table("traffic") and not sa.inspect(conn).has_table("leases")
        now = time.time()
        conn.execute(sa.text("INSERT INTO experiments (name, created_at) VALUES ('e', :t)"), {"t": now})
        conn.execute(sa.text("INSERT INTO runs (id, experiment_id, status, start_time) VALUES ('r', 1, 'FINISHED', :t)"), {"t": now})
        conn.execute(sa.text("INSERT INTO models (name, created_at) VALUES ('m', :t)"), {"t": now})
        conn.execute(sa.text("INSERT INTO model_versions (name, version, run_id, archived, created_at) VALUES ('m', 1, 'r', false, :t)"), {"t": now})
        conn.execute(sa.text("INSERT INTO aliases (name, alias, version, updated_at) VALUES ('m', 'production', 1, :t), ('m', 'challenger', 1, :t)"), {"t": now})
        conn.execute(sa.text("INSERT INTO prediction_segments (model, version, first_at, last_at, rows, requests, dropped_rows, "
                             "dropped_requests, sampled_out, created_at) VALUES ('m', 1, :t, :t, 3, 1, 0, 0, 0, :t)"), {"t": now})
    engine.dispose()
    with Workspace.open(ws_root) as ws:
        assert ws.store.revision() == HEAD_REVISION
        with ws.store.transaction(write=False) as conn:
            assert conn.execute(sa.text("SELECT shadow FROM prediction_segments")).scalar() in (0, False)
        from mlwork import predlog
        assert len(predlog.segments(ws.store, "m")) == 1 and len(predlog.segments(ws.store, "m", shadow=True)) == 0
        assert traffic.set_policy(ws.store, "m", traffic.Policy("shadow", alias="challenger"), reason="after the upgrade") == 1
        assert acquire_lease(ws.store, "loop:m", "me") and not acquire_lease(ws.store, "loop:m", "you")
