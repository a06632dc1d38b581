"""raynn.storage: URIs joined and normalized as Ray takes them (pure), and checked against a real S3 server on
loopback (moto): a good URI passes and leaves nothing behind; a missing bucket, a closed port, an unknown scheme,
a bad parameter and missing credentials are each one ConfigError naming the key, the rule and the URI."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from raynn import storage
from raynn.errors import ConfigError
from raynn_testing.s3 import CREDENTIAL_VARS


def test_join_puts_parts_before_the_query() -> None:
    assert storage.join("s3://b/p?endpoint_override=http://127.0.0.1:9&scheme=http", "exp", "trial") == \
        "s3://b/p/exp/trial?endpoint_override=http://127.0.0.1:9&scheme=http"
    assert storage.join("gs://b/p/", "exp") == "gs://b/p/exp"
    assert storage.join("/tmp/runs", "exp") == "/tmp/runs/exp"
    assert storage.Uri("s3://b/p?x=1") / "run" == "s3://b/p/run?x=1"
    assert storage.Uri("s3://b/p/run?x=1").name == "run"


def test_normalize_keeps_uris_and_resolves_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert storage.normalize("storage", "s3://b/p/?scheme=http") == "s3://b/p?scheme=http"
    assert storage.normalize("storage", "runs") == str(tmp_path / "runs")
    assert storage.is_uri("abfs://c/p") and not storage.is_uri("runs") and not storage.is_uri("s3:/b")


@pytest.mark.parametrize("value", ["s3:/bucket/runs", "s3:bucket", "gs:/b"])
def test_a_uri_without_its_slashes_is_refused_not_made_a_local_folder(value: str) -> None:
    with pytest.raises(ConfigError, match="looks like a URI without '//'") as info:
        storage.normalize("storage", value)
    assert info.value.key == "storage" and info.value.value == value


def test_secrets_in_the_query_are_never_shown() -> None:
    assert storage.redact("s3://b/p?access_key=AK&secret_key=SK&scheme=http") == \
        "s3://b/p?access_key=***&secret_key=***&scheme=http"


def test_a_checkpoint_path_ray_reports_becomes_a_uri_with_the_storage_query() -> None:
    assert storage.fs_uri("s3://b/runs?scheme=http", "b/runs/r/checkpoint_000002") == \
        "s3://b/runs/r/checkpoint_000002?scheme=http"
    assert storage.fs_uri("/tmp/runs", "/tmp/runs/r/checkpoint_000002") == "/tmp/runs/r/checkpoint_000002"


def test_the_working_copy_is_the_same_path_for_the_same_uri_on_any_machine() -> None:
    a = storage.work_dir("s3://b/p/exp?endpoint_override=http://127.0.0.1:1")
    assert a == storage.work_dir("s3://b/p/exp?endpoint_override=http://127.0.0.1:2")  # the query is not the place
    assert a != storage.work_dir("s3://b/q/exp") and a.name.startswith("exp-") and a.is_dir()


def test_an_sqlite_study_is_copied_through_sqlite_backup(tmp_path: Path) -> None:
    db = tmp_path / "optuna.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table t (x)")
        conn.executemany("insert into t values (?)", [(i,) for i in range(100)])
    conn.close()
    holder = sqlite3.connect(db)  # an open connection with an uncommitted write, as a searcher mid-update
    holder.execute("insert into t values (-1)")
    storage.copy_for_upload(db, tmp_path / "up" / "optuna.db")
    holder.close()
    with sqlite3.connect(tmp_path / "up" / "optuna.db") as copy:
        assert copy.execute("select count(*) from t").fetchone() == (100,)  # the committed state, whole
    copy.close()
    assert sorted(p.name for p in (tmp_path / "up").iterdir()) == ["optuna.db"]  # no temp file left


def test_a_good_uri_passes_and_the_probe_leaves_nothing(s3: Any) -> None:
    before = s3.keys()
    assert storage.check_uri("storage", s3.uri("probe-ok")) == s3.uri("probe-ok")
    # pyarrow keeps the emptied prefix as a directory marker: the directory Ray makes there anyway
    assert set(s3.keys()) - set(before) <= {"probe-ok/"}


@pytest.mark.parametrize(
    ("make", "rule"),
    [
        (lambda s3: s3.uri("runs", bucket="no-such-bucket"), "the bucket does not exist"),
        (lambda s3: "nosuchfs://bucket/runs", "pyarrow does not know the scheme 'nosuchfs'"),
        (lambda s3: s3.uri("runs") + "&endpoint=typo", "must be a storage URI pyarrow can open (Unexpected query"),
    ],
    ids=["missing-bucket", "unknown-scheme", "bad-parameter"],  # a closed port: tests/test_bad_input.py
)
def test_a_bad_uri_is_one_config_error_naming_the_rule(s3: Any, make: Any, rule: str) -> None:
    uri = make(s3)
    start = time.monotonic()
    with pytest.raises(ConfigError) as info:
        storage.check_uri("--storage", uri)
    assert rule in str(info.value) and info.value.key == "--storage" and info.value.value == uri
    assert "\n" not in str(info.value)
    assert time.monotonic() - start < 15


def test_missing_credentials_are_said_before_any_request(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in CREDENTIAL_VARS:
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigError, match="must come with AWS credentials, but none were found"):
        storage.check_uri("storage", s3.uri("runs"))


def test_files_go_up_and_come_back(s3: Any, tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "sub" / "a.txt").write_text("a")
    where = s3.uri("roundtrip/d")
    storage.upload_dir(tmp_path / "d", where)
    assert storage.exists(storage.join(where, "sub", "a.txt")) and storage.is_dir(storage.join(where, "sub"))
    assert storage.listdir(where) == ["sub"]
    local = storage.fetch_local(storage.join(where, "sub"))
    assert Path(local, "a.txt").read_text() == "a"
    with pytest.raises(FileNotFoundError):
        storage.fetch_local(storage.join(where, "missing"))


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ("When initiating multiple part upload for key 'p/x' in bucket 'b': AWS Error ACCESS_DENIED during "
         "CreateMultipartUpload operation: Access Denied", "access denied: check the credentials and the bucket's "
         "policy: Access Denied"),
        ("When creating key 'p/' in bucket 'b': AWS Error NO_SUCH_BUCKET during PutObject operation: The specified "
         "bucket does not exist", "the bucket does not exist: The specified bucket does not exist"),
        ("something else\nsecond line", "something else"),
    ],
    ids=["access-denied", "no-such-bucket", "other"],
)
def test_pyarrows_s3_errors_are_said_in_words(error: str, reason: str) -> None:
    assert storage._reason(OSError(error)) == reason
