"""Artifacts on a real S3-compatible server (moto's standalone server on 127.0.0.1) through s3fs: round trips,
atomic writes, digests verified on read, corrupted and missing objects, credentials only from the AWS environment,
and a job sweep on a Dask cluster writing to PostgreSQL and S3."""
import hashlib, os, subprocess, threading, time
import pytest
from conftest import BIN, clean_env, _free_port

pytest.importorskip("s3fs"); pytest.importorskip("boto3")
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing-secret", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    "The endpoint of a moto S3 server process, with a bucket 'mlwork'."
    import boto3, socket
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    proc = subprocess.Popen([BIN / "moto_server", "-H", "127.0.0.1", "-p", str(port)], env=clean_env(),
                            stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
    end = time.time() + 30
    while time.time() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0: break
        time.sleep(0.1)
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, **{k.lower(): v for k, v in AWS.items() if k != "AWS_DEFAULT_REGION"},
                 region_name="us-east-1").create_bucket(Bucket="mlwork")
    try: yield endpoint
    finally: proc.terminate(); proc.wait(10)


@pytest.fixture
def aws_env(s3_server, monkeypatch):
    "The usual AWS environment variables pointing at the test server (what s3fs/botocore read)."
    for k, v in {**AWS, "AWS_ENDPOINT_URL": s3_server}.items(): monkeypatch.setenv(k, v)
    import fsspec; fsspec.filesystem("s3").clear_instance_cache()
    return {**AWS, "AWS_ENDPOINT_URL": s3_server}


def _boto(env):
    import boto3
    return boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")


def test_blobs_round_trip_on_s3(aws_env, tmp_path):
    from mlwork.artifacts import BlobStore
    blobs = BlobStore("s3://mlwork/rt")
    d, n = blobs.put_bytes(b"hello s3")
    assert n == 8 and blobs.get_bytes(d) == b"hello s3" and blobs.exists(d)
    big = tmp_path / "big.bin"; big.write_bytes(os.urandom(9 << 20))       # streamed, multipart-sized
    d2, n2 = blobs.put_file(big)
    assert d2 == hashlib.sha256(big.read_bytes()).hexdigest() and n2 == 9 << 20
    assert blobs.get_file(d2, tmp_path / "back.bin").read_bytes() == big.read_bytes()
    keys = [o["Key"] for o in _boto(aws_env).list_objects_v2(Bucket="mlwork", Prefix="rt/")["Contents"]]
    assert sorted(keys) == sorted([f"rt/{d[:2]}/{d[2:]}", f"rt/{d2[:2]}/{d2[2:]}"])   # no temporary objects left


def test_no_partial_object_is_ever_visible(aws_env, tmp_path):
    "While a large upload is in flight, its digest is absent or complete: never half an object."
    from mlwork.artifacts import BlobStore
    blobs = BlobStore("s3://mlwork/atomic")
    big = tmp_path / "big.bin"; big.write_bytes(os.urandom(24 << 20))
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    t = threading.Thread(target=blobs.put_file, args=(big,)); t.start()
    seen, reader = [], BlobStore("s3://mlwork/atomic")
    while t.is_alive():
        try: seen.append(len(reader.get_bytes(digest)))                  # verified on read
        except Exception as e: seen.append(type(e).__name__)
        time.sleep(0.05)
    t.join()
    assert set(seen) <= {"NotFoundError", 24 << 20}, set(seen)
    assert len(reader.get_bytes(digest)) == 24 << 20


def test_corrupted_and_missing_objects_are_clear_errors(aws_env):
    from mlwork.artifacts import BlobStore
    from mlwork.errors import ArtifactCorruptError, NotFoundError
    blobs = BlobStore("s3://mlwork/bad")
    d, _ = blobs.put_bytes(b"the original")
    _boto(aws_env).put_object(Bucket="mlwork", Key=f"bad/{d[:2]}/{d[2:]}", Body=b"tampered")
    with pytest.raises(ArtifactCorruptError, match="corrupted.*hashes to sha256"): blobs.get_bytes(d)
    _boto(aws_env).delete_object(Bucket="mlwork", Key=f"bad/{d[:2]}/{d[2:]}")
    with pytest.raises(NotFoundError, match="missing from the artifact store s3://mlwork/bad"): blobs.get_bytes(d)


def test_workspace_on_s3_keeps_credentials_out_of_settings_and_store(aws_env, ws_root, monkeypatch):
    import mlwork as mw
    monkeypatch.setenv("MLWORK_ARTIFACTS", "s3://mlwork/ws")
    with mw.Workspace.open(ws_root) as ws:
        with ws.start_run("s3") as run: run.log_text("on s3", "notes.txt")
        assert ws.get_run(run.id).load_artifact("notes.txt") == b"on s3"
        from mlwork.doctor import check_artifacts
        assert check_artifacts(ws.settings).ok
    secret = AWS["AWS_SECRET_ACCESS_KEY"].encode()
    assert secret not in (ws_root / "settings.ini").read_bytes()
    assert all(secret not in p.read_bytes() for p in ws_root.rglob("*") if p.is_file())   # nor in the SQLite store


def test_wrong_credentials_are_a_clear_error(aws_env, monkeypatch):
    from mlwork.artifacts import BlobStore
    from mlwork.errors import ArtifactError
    blobs = BlobStore("s3://no-such-bucket/x")
    with pytest.raises(ArtifactError, match="no-such-bucket.*AWS_ENDPOINT_URL"): blobs.put_bytes(b"x")


def test_job_sweep_on_dask_with_postgres_and_s3(aws_env, ws_root, pg_url, tmp_path_factory, monkeypatch):
    "The team set-up end to end: jobs on a Dask cluster write runs to PostgreSQL and executed notebooks to S3."
    from test_dask import Cluster
    from test_jobs import job_notebook
    from mlwork.workspace import Workspace
    from mlwork.doctor import diagnose
    cluster = Cluster(tmp_path_factory.mktemp("dask-s3"), **aws_env)
    try:
        cluster.add_worker("s1"); cluster.add_worker("s2"); cluster.wait_for_workers(2)
        monkeypatch.setenv("MLWORK_STORE", pg_url); monkeypatch.setenv("MLWORK_ARTIFACTS", "s3://mlwork/team")
        monkeypatch.setenv("MLWORK_EXECUTOR", cluster.spec)
        job_notebook(ws_root / "jobs" / "fit.ipynb", ["alpha = 0.1", "import mlwork as mw\nws = mw.Workspace.open()\n"
                     "with ws.start_run('fit', params={'alpha': alpha}) as r:\n    r.log_metric('score', 1 - alpha)\n"
                     "    r.log_text(str(alpha), 'alpha.txt')"])
        with Workspace.open(ws_root) as ws:
            report = diagnose(ws.settings)
            assert report.ok, report.text()
            jobs = ws.jobs.map("fit", [{"alpha": a} for a in (0.1, 0.2, 0.3, 0.4)])
            assert [j.status for j in jobs] == ["FINISHED"] * 4
            df = ws.runs("fit", order_by="params.alpha")
            assert list(df["metrics.score"]) == pytest.approx([0.9, 0.8, 0.7, 0.6])
            assert ws.get_run(df.run_id[0]).load_artifact("alpha.txt") == b"0.1"
            keys = _boto(aws_env).list_objects_v2(Bucket="mlwork", Prefix="team/")["KeyCount"]
            assert keys >= 4 * 3                  # per job: the artifact, the executed notebook and its HTML
    finally:
        cluster.stop()
