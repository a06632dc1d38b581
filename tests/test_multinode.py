"""A real multi-node Ray cluster on this machine, driven by the scripts in scripts/cluster/.

``local_cluster.sh up`` starts a head (2 CPUs, resource ``head``) and a second node (1 CPU, resource
``node_1``) with ``ray start``; ``submit.sh`` submits ``raynn tune`` as a Ray job whose three trials run at
once, more than either node has CPUs for, so both nodes must run some. The experiment's storage is a bucket,
as on a cloud cluster: the suite's moto S3 server on 127.0.0.1 (``s3://bucket/...?endpoint_override=...``);
every trial's results and checkpoints are objects there, and no node writes a local folder for it. Then: the job ends SUCCEEDED, the
node ids the trials recorded cover both nodes, ``logs.sh`` reads the job's output, the dashboard's REST API
answers for the job (and refuses a request without the token), and the cluster's available resources return
to its total. ``local_cluster.sh down`` stops the cluster whatever happened, and no process of it may remain.

Only one Ray instance may run on the machine at a time: run it under the machine's Ray lock,
``flock /tmp/raynn-ray.lock .venv/bin/python -m pytest tests/test_multinode.py``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts" / "cluster"
# Not Ray's defaults (6379, 8265, 10001): a cluster started by hand with the defaults cannot collide with it.
GCS_PORT, DASHBOARD_PORT, PORT_BASE = 26379, 28265, 23000
HEAD_CPUS, NODE_CPUS = 2, 1
TRIALS = HEAD_CPUS + NODE_CPUS  # all at once: more than either node holds
SPACE: dict[str, Any] = {
    "base": {"data": {"name": "digits"}, "model": {"name": "mlp", "params": {"hidden": [16]}},
             "train": {"epochs": 2, "batch_size": 64, "num_threads": 1}},
    "space": {"optimizer.lr": {"type": "float", "low": 0.001, "high": 0.5, "log": True}},
}
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}

pytestmark = [
    pytest.mark.ray,
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("bash") is None,
                       reason="local_cluster.sh down needs Linux's /proc, and the scripts need bash"),
]


def _run(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                          check=False)


def _token(env: dict[str, str]) -> str:
    """The scripts' token: RAY_AUTH_TOKEN, else the file RAY_AUTH_TOKEN_PATH, else ~/.ray/auth_token."""
    if env.get("RAY_AUTH_TOKEN"):
        return env["RAY_AUTH_TOKEN"]
    return Path(env.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token").read_text().strip()


def _get(path: str, token: str | None) -> tuple[int, Any]:
    """GET a dashboard REST path: (HTTP status, parsed JSON or the raw text)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"http://127.0.0.1:{DASHBOARD_PORT}{path}", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, body = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read().decode()
    try:
        return status, json.loads(body)
    except json.JSONDecodeError:
        return status, body


def _port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def _stat(pid: int) -> tuple[str, str, int, str] | None:
    """(name, state, parent pid, start time) of a process from /proc/PID/stat, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name, rest = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
    return name, rest[0], int(rest[1]), rest[19]


def _alive(process: tuple[int, str]) -> bool:
    """Whether the process (pid, start time) still runs: not a zombie, and its PID not reused."""
    stat = _stat(process[0])
    return stat is not None and stat[1] != "Z" and stat[3] == process[1]


def _cluster_processes() -> dict[tuple[int, str], str]:
    """{(pid, start time): name} of the cluster's live processes: those that carry local_cluster.sh's mark in
    their environment, and their descendants (Ray's workers rename themselves, ``ray::IDLE``, which hides
    their environment; they are the raylets' children)."""
    mark = f"RAYNN_LOCAL_CLUSTER=127.0.0.1:{GCS_PORT}".encode()
    stats, found = {}, set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None and stat[1] != "Z":
            stats[int(entry.name)] = stat
            try:
                if mark in (entry / "environ").read_bytes().split(b"\0"):
                    found.add(int(entry.name))
            except OSError:
                continue
    grew = True
    while grew:
        children = {pid for pid, stat in stats.items() if stat[2] in found} - found
        found |= children
        grew = bool(children)
    return {(pid, stats[pid][3]): stats[pid][0] for pid in found}


def _daemons(processes: dict[tuple[int, str], str]) -> list[str]:
    """The names of the raylets and GCS servers among ``processes``."""
    return sorted(name for name in processes.values() if name in ("raylet", "gcs_server"))


def _wait_for_job(job_id: str, token: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        status, job = _get(f"/api/jobs/{job_id}", token)
        if status == 200 and job["status"] in TERMINAL:
            return job
        if time.monotonic() > deadline:
            _, logs = _get(f"/api/jobs/{job_id}/logs", token)
            pytest.fail(f"job {job_id} did not end within {timeout} s: {status} {job}\n{logs}")
        time.sleep(1.0)


# Run in a separate driver: connecting this pytest process would leave Ray state behind for later tests.
RESOURCES_SETTLE = """
import json, sys, time
import ray
ray.init(address=sys.argv[1], log_to_driver=False)
deadline = time.monotonic() + float(sys.argv[2])
while True:
    total, free = ray.cluster_resources(), ray.available_resources()
    if free == total or time.monotonic() > deadline:
        break
    time.sleep(0.5)
print(json.dumps({"total": total, "available": free}))
"""


def _shutdown_shared_session() -> None:
    """One Ray instance at a time: conftest's ``ray_session`` starts the shared one again when asked."""
    import ray

    if ray.is_initialized():
        ray.shutdown()


# A model of the user's project that records, in each trial, the node it runs on and where Python imported the
# project's module from: Ray's copy of the job's working directory on that node, or not.
WHERE = """
import json
from shapes.nets import ShapeNet


class WhereNet(ShapeNet):
    def __init__(self, log: str = "", **kwargs):
        super().__init__(**kwargs)
        import ray
        import shapes.nets
        if log and ray.is_initialized():
            with open(log, "a") as f:
                f.write(json.dumps({"node": ray.get_runtime_context().get_node_id(), "file": shapes.nets.__file__}) + "\\n")
"""


def _user_space(log: Path, **base: Any) -> dict[str, Any]:
    return {"base": {"model": {"class_path": "shapes.where.WhereNet", "init_args": {"log": str(log), "depth": 1}},
                     "data": {"class_path": "shapes.data.Shapes", "init_args": {"size": 90, "side": 16}},
                     "train": {"epochs": 1, "batch_size": 32, "num_threads": 1}, **base},
            "space": {"optimizer.lr": {"type": "float", "low": 0.01, "high": 0.3, "log": True}}}


def _user_project_runs_on_both_nodes_from_ray_shipped_code(tmp_path: Path, env: dict[str, str], token: str,
                                                          node_ids: set[str]) -> None:
    """The example project, outside the repository, submitted with ``submit.sh --working-dir``: its trials run on
    both nodes and import the project from each node's Ray runtime-resources copy; a driver that ships the
    project without its package (``code.excludes``) fails with one line naming a node, before any trial."""
    project = tmp_path / "proj"
    shutil.copytree(ROOT / "examples" / "custom", project)
    (project / "shapes" / "where.py").write_text(WHERE)
    log = tmp_path / "where.jsonl"
    (project / "space.yaml").write_text(yaml.safe_dump(_user_space(log)))
    job_id = f"raynn_user_{uuid.uuid4().hex[:8]}"
    submitted = _run(
        [str(SCRIPTS / "submit.sh"), "--working-dir", str(project), "raynn", "tune", "space.yaml", "--scheduler",
         "fifo", "--searcher", "random", "--num-samples", str(TRIALS), "--max-concurrent", str(TRIALS),
         "--address", "auto", "--storage", str(tmp_path / "user-exps"), "--name", "user"],
        {**env, "RAYNN_JOB_ID": job_id}, timeout=60)
    assert submitted.returncode == 0, submitted.stderr
    job = _wait_for_job(job_id, token, timeout=180)
    if job["status"] != "SUCCEEDED":
        _, logs = _get(f"/api/jobs/{job_id}/logs", token)
        pytest.fail(f"job {job_id}: {job['status']}: {job['message']}\n{str(logs)[-6000:]}")
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert {r["node"] for r in rows} == node_ids, rows  # trials on both nodes...
    for row in rows:  # ... each importing the project from Ray's copy on its node, not from the project folder
        assert "/runtime_resources/working_dir_files/" in row["file"], row
        assert not row["file"].startswith(str(project)), row

    # The driver imports the project from its folder, but Ray ships it without the package: one line, exit 2.
    excluded = tmp_path / "excluded.yaml"
    excluded.write_text(yaml.safe_dump(_user_space(tmp_path / "never.jsonl",
                                                   code={"working_dir": str(project), "excludes": ["shapes/"]})))
    proc = _run([sys.executable, "-m", "raynn.cli", "tune", str(excluded), "--scheduler", "fifo", "--searcher",
                 "random", "--num-samples", "1", "--address", f"127.0.0.1:{GCS_PORT}", "--storage",
                 str(tmp_path / "excluded-exps"), "--name", "excluded"],
                {k: v for k, v in env.items() if k != "RAY_ADDRESS"}, timeout=180)
    assert proc.returncode == 2, (proc.stdout[-2000:], proc.stderr[-3000:])
    errors = [line for line in proc.stderr.splitlines() if line.startswith("raynn: error:")]
    assert len(errors) == 1 and re.match(r"raynn: error: (model|data)\.class_path: node \S+ \(\w{8}\) cannot "
                                         r"import shapes\.", errors[0]), proc.stderr[-3000:]
    assert "No module named 'shapes'" in errors[0] and "--working-dir" in errors[0], errors
    assert not (tmp_path / "never.jsonl").exists()  # no trial trained
    assert not list((tmp_path / "excluded-exps").glob("excluded/trial-*"))


def test_tune_job_spreads_trials_over_two_nodes_and_releases_everything(tmp_path: Path, s3: Any) -> None:
    _shutdown_shared_session()
    # Short: Ray's Unix socket paths under it must stay below 108 bytes.
    temp_dir = tempfile.mkdtemp(prefix="raynn-mn-", dir="/tmp")
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAYNN_LOCAL_CLUSTER")}
    env.update({
        "RAY": str(Path(sys.executable).parent / "ray"),
        "RAYNN_LOCAL_PORT": str(GCS_PORT), "RAYNN_LOCAL_DASHBOARD_PORT": str(DASHBOARD_PORT),
        "RAYNN_LOCAL_PORT_BASE": str(PORT_BASE), "RAYNN_LOCAL_HEAD_CPUS": str(HEAD_CPUS),
        "RAYNN_LOCAL_TEMP_DIR": temp_dir,
        "RAY_AUTH_MODE": "token",  # as the scripts do: Ray sends the token only in token mode
        "RAY_ADDRESS": f"http://127.0.0.1:{DASHBOARD_PORT}",  # for submit.sh and logs.sh; `up` drops it
    })
    if _cluster_processes():  # left by a run of this test that was killed before its teardown
        _run([str(SCRIPTS / "local_cluster.sh"), "down"], env, timeout=120)
    busy = [p for p in (GCS_PORT, DASHBOARD_PORT, PORT_BASE, PORT_BASE + 1000) if _port_in_use(p)]
    if busy:
        shutil.rmtree(temp_dir)
        pytest.fail(f"ports {busy} are in use: another Ray cluster runs on this machine")
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE))
    storage, name = s3.uri("multinode"), "multinode"  # the cluster's processes inherit the dummy AWS env
    job_id = f"raynn_multinode_{uuid.uuid4().hex[:8]}"
    try:
        up = _run([str(SCRIPTS / "local_cluster.sh"), "up", "1", str(NODE_CPUS)], env, timeout=120)
        assert up.returncode == 0, up.stderr
        assert _daemons(_cluster_processes()) == ["gcs_server", "raylet", "raylet"]
        token = _token(env)

        status, nodes = _get("/api/v0/nodes", token)
        assert status == 200, nodes
        nodes = [n for n in nodes["data"]["result"]["result"] if n["state"] == "ALIVE"]
        head = next(n for n in nodes if n["is_head_node"])
        node = next(n for n in nodes if not n["is_head_node"])
        assert len(nodes) == 2
        assert (head["resources_total"]["CPU"], head["resources_total"]["head"]) == (HEAD_CPUS, 1), head
        assert (node["resources_total"]["CPU"], node["resources_total"]["node_1"]) == (NODE_CPUS, 1), node

        submitted = _run(
            [str(SCRIPTS / "submit.sh"), "raynn", "tune", str(space), "--scheduler", "fifo", "--searcher",
             "random", "--num-samples", str(TRIALS), "--max-concurrent", str(TRIALS), "--address", "auto",
             "--storage", str(storage), "--name", name],
            {**env, "RAYNN_JOB_ID": job_id}, timeout=60)
        assert submitted.returncode == 0, submitted.stderr
        assert submitted.stdout.strip() == job_id

        job = _wait_for_job(job_id, token, timeout=120)
        if job["status"] != "SUCCEEDED":
            _, logs = _get(f"/api/jobs/{job_id}/logs", token)
            pytest.fail(f"job {job_id}: {job['status']}: {job['message']}\n{str(logs)[-6000:]}")

        # The dashboard's REST API, as a browser or script would call it: with the token, and only with it.
        assert job["submission_id"] == job_id and job["entrypoint"].startswith("raynn tune ")
        assert job["driver_exit_code"] == 0
        assert job["driver_node_id"] == head["node_id"]  # the job's driver runs on the head
        assert _get(f"/api/jobs/{job_id}", None)[0] == 401
        assert _get(f"/api/jobs/{job_id}", "not-the-token")[0] == 403

        logs = _run([str(SCRIPTS / "logs.sh"), job_id], env, timeout=60)
        assert logs.returncode == 0, logs.stderr
        assert "raynn tune: best val_loss" in logs.stdout, logs.stdout[-3000:]

        trial_nodes = {}
        keys = s3.keys(f"multinode/{name}/")
        for key in [k for k in keys if k.endswith("/result.json")]:
            text = s3.client().get_object(Bucket="bucket", Key=key)["Body"].read().decode()
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
            assert [r["epoch"] for r in rows] == [1, 2], key
            assert len({r["node_id"] for r in rows}) == 1, key  # one trial, one actor, one node
            trial_nodes[key.split("/")[-2]] = rows[0]["node_id"]
            assert any(k.startswith(key.rsplit("/", 1)[0] + "/checkpoint_") for k in keys), key
        assert len(trial_nodes) == TRIALS, trial_nodes
        assert set(trial_nodes.values()) == {head["node_id"], node["node_id"]}, trial_nodes
        assert f"multinode/{name}/summary.json" in keys and f"multinode/{name}/optuna.db" not in keys  # random
        # No node wrote a local folder for the storage (the old bug: "./s3:/bucket/..." in the job's directory).
        assert not list(Path(temp_dir).rglob("s3:")) and not (ROOT / "s3:").exists()
        assert not [p for p in tmp_path.iterdir() if p.name != "space.yaml"]

        _user_project_runs_on_both_nodes_from_ray_shipped_code(tmp_path, env, token, {head["node_id"], node["node_id"]})

        settle = _run([sys.executable, "-c", RESOURCES_SETTLE, f"127.0.0.1:{GCS_PORT}", "30"], env, 90)
        assert settle.returncode == 0, settle.stderr
        resources = json.loads(settle.stdout.strip().splitlines()[-1])
        assert resources["total"]["CPU"] == HEAD_CPUS + NODE_CPUS
        assert resources["available"] == resources["total"], resources
    finally:
        started = _cluster_processes()  # every process `up` started that still lives, workers included
        daemons = _daemons(started)
        down = _run([str(SCRIPTS / "local_cluster.sh"), "down"], env, timeout=120)
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert down.returncode == 0, down.stderr
    assert daemons == ["gcs_server", "raylet", "raylet"]
    assert not {p: name for p, name in started.items() if _alive(p)}
    assert not _cluster_processes()
    assert not [p for p in (GCS_PORT, DASHBOARD_PORT, PORT_BASE, PORT_BASE + 1000) if _port_in_use(p)]
