"""The cluster-launcher configs (cluster.yaml, cluster.local.yaml) and the scripts in scripts/cluster/.

Ray's own checks first, the ones `ray up` runs before it creates anything: `prepare_config` merges the
provider's defaults.yaml (no cloud call, no network) and `validate_config` checks ray-schema.json. Then the
security settings as shipped: token authentication on, the dashboard on the head's loopback, a security
group open to SSH only. No Ray instance is started.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import ray
import yaml
from packaging.specifiers import SpecifierSet
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ["cluster.yaml", "cluster.local.yaml"]
SCRIPTS = ROOT / "scripts" / "cluster"
RAY_PIN = f"ray[default,tune,train]=={ray.__version__}"


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / name).read_text())


def _prepared(name: str) -> dict[str, Any]:
    config = prepare_config(_load(name))
    validate_config(config)
    return config


def _start_commands(config: dict[str, Any]) -> list[str]:
    commands = config["head_start_ray_commands"] + config["worker_start_ray_commands"]
    return [c for c in commands if "ray start" in c]


@pytest.mark.parametrize("name", CONFIGS)
def test_config_passes_rays_own_validation(name: str) -> None:
    config = _prepared(name)
    assert config["head_node_type"] in config["available_node_types"]
    assert config["max_workers"] >= 1


@pytest.mark.parametrize("name", CONFIGS)
def test_dashboard_and_job_api_listen_on_the_heads_loopback_only(name: str) -> None:
    config = _prepared(name)
    head_starts = [c for c in config["head_start_ray_commands"] if "ray start --head" in c]
    assert len(head_starts) == 1
    assert re.findall(r"--dashboard-host[= ](\S+)", head_starts[0]) == ["127.0.0.1"]
    # scripts/cluster/ and `ray dashboard` (remote port 8265) expect the default port.
    assert re.findall(r"--dashboard-port[= ](\S+)", head_starts[0]) == ["8265"]
    for command in config["worker_start_ray_commands"]:
        assert "--dashboard-host" not in command


@pytest.mark.parametrize("name", CONFIGS)
def test_token_authentication_stays_on(name: str) -> None:
    assert not re.search(r"RAY_AUTH_MODE\s*=\s*[\"']?disabled", (ROOT / name).read_text(), re.IGNORECASE)
    config = _prepared(name)
    # `ray start` turns token authentication on only when it is told to or finds a token: both are needed.
    starts = _start_commands(config)
    assert len(starts) == 2
    for command in starts:
        assert command.index("export RAY_AUTH_MODE=token") < command.index("ray start")
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"


def test_scripts_never_turn_token_authentication_off() -> None:
    for script in sorted(SCRIPTS.glob("*.sh")):
        text = script.read_text()
        assert not re.search(r"RAY_AUTH_MODE\s*=\s*[\"']?disabled", text, re.IGNORECASE), script.name
    assert "export RAY_AUTH_MODE=token" in (SCRIPTS / "_common.sh").read_text()


def _rays_default_ssh_rules() -> list[dict[str, Any]]:
    """The inbound rules Ray's AWS provider always adds besides the intra-cluster one, read from its source.

    ray.autoscaler._private.aws.config imports boto3, which the launcher needs but the tests do not, so the
    literal is parsed instead of imported.
    """
    source = Path(ray.__file__).parent / "autoscaler" / "_private" / "aws" / "config.py"
    tree = ast.parse(source.read_text())
    function = next(node for node in ast.walk(tree)
                    if isinstance(node, ast.FunctionDef) and node.name == "_create_default_ssh_inbound_rules")
    returned = next(node for node in ast.walk(function) if isinstance(node, ast.Return))
    return ast.literal_eval(returned.value)


def test_security_group_opens_only_ssh() -> None:
    config = _prepared("cluster.yaml")
    group = config["provider"]["security_group"]
    assert group["GroupName"]
    # No node type brings its own group or network interfaces, so Ray creates the group with its built-in
    # rules (all traffic from the group's own members; SSH from anywhere) plus IpPermissions.
    for node_type in config["available_node_types"].values():
        assert not {"SecurityGroupIds", "NetworkInterfaces"} & set(node_type["node_config"])
    open_to_outside = _rays_default_ssh_rules() + group["IpPermissions"]
    assert open_to_outside
    for rule in open_to_outside:
        assert (rule["IpProtocol"].lower(), rule["FromPort"], rule["ToPort"]) == ("tcp", 22, 22), rule


@pytest.mark.parametrize("name", CONFIGS)
def test_setup_commands_install_raynn_and_the_launchers_ray(name: str) -> None:
    config = _prepared(name)
    assert config["file_mounts"]["~/raynn"] == "."
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    requires_python = SpecifierSet(pyproject["project"]["requires-python"])
    # After prepare_config, head and worker setup each start with the common setup_commands.
    for commands in (config["head_setup_commands"], config["worker_setup_commands"]):
        installs = [shlex.split(c) for c in commands if "pip install" in c and "-e ~/raynn" in c]
        assert len(installs) == 1
        words = installs[0]
        assert words[words.index("-e") + 1] == "~/raynn"
        assert RAY_PIN in words
        # No other command installs Ray (the provider defaults install a nightly wheel).
        for command in commands:
            for pin in re.findall(r"\bray(?:\[[^\]]*\])?\s*(?:==|>=|<=|~=|@)[^\s\"']*", command):
                assert pin == RAY_PIN, command
        venv = next(c for c in commands if "venv" in c and "--python" in c)
        version = shlex.split(venv)[shlex.split(venv).index("--python") + 1]
        assert requires_python.contains(version), (version, requires_python)


def test_both_configs_set_up_and_start_nodes_the_same_way() -> None:
    aws, local = _load("cluster.yaml"), _load("cluster.local.yaml")
    for key in ("setup_commands", "head_start_ray_commands", "worker_start_ray_commands", "file_mounts",
                "rsync_exclude", "rsync_filter"):
        assert aws[key] == local[key], key


def test_aws_nodes_share_one_image_and_gpu_workers_scale_from_zero() -> None:
    node_types = _prepared("cluster.yaml")["available_node_types"]
    assert len({t["node_config"]["ImageId"] for t in node_types.values()}) == 1
    assert node_types["gpu"]["min_workers"] == 0 and node_types["gpu"]["max_workers"] > 0
    assert node_types["gpu_spot"]["min_workers"] == 0
    assert node_types["gpu_spot"]["node_config"]["InstanceMarketOptions"]["MarketType"] == "spot"
    assert "InstanceMarketOptions" not in node_types["gpu"]["node_config"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_cluster_scripts_parse() -> None:
    scripts = sorted(SCRIPTS.glob("*.sh"))
    assert {s.name for s in scripts} >= {"submit.sh", "logs.sh", "stop.sh", "local_cluster.sh"}
    for script in scripts:
        subprocess.run(["bash", "-n", str(script)], check=True)


def test_local_cluster_never_runs_ray_stop() -> None:
    # `ray stop` stops every Ray process of the user on the machine; `down` stops this cluster's only.
    text = (SCRIPTS / "local_cluster.sh").read_text()
    assert not re.search(r"\"\$ray_cli\" stop|^\s*ray stop", text, re.MULTILINE)
    heads = re.findall(r"\"\$ray_cli\" start --head.*?\n\n", text, re.DOTALL)
    assert len(heads) == 1 and "--dashboard-host 127.0.0.1" in heads[0]
    # Nodes on one machine must not share a session directory (see the script's header).
    starts = re.findall(r"\"\$ray_cli\" start .*?\n\n", text, re.DOTALL)
    assert len(starts) == 2
    temp_dirs = [re.findall(r"--temp-dir (\S+)", s) for s in starts]
    assert temp_dirs == [['"$temp_dir/head"'], ['"$temp_dir/node_$i"']]


def _local_cluster(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """local_cluster.sh with a ray CLI that fails: these tests must stop before Ray is called."""
    return subprocess.run(["bash", str(SCRIPTS / "local_cluster.sh"), *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "RAY": "/bin/false", **env}, check=False)


needs_bash_and_proc = pytest.mark.skipif(shutil.which("bash") is None or not Path("/proc/self").is_dir(),
                                         reason="needs bash and Linux's /proc")


@needs_bash_and_proc
def test_local_cluster_down_without_a_cluster_stops_nothing() -> None:
    proc = _local_cluster("down", RAYNN_LOCAL_PORT="1999")
    assert proc.returncode == 0, proc.stderr
    assert "no process of the cluster with GCS port 1999 is running" in proc.stderr


@needs_bash_and_proc
def test_local_cluster_up_refuses_bad_settings_before_starting_anything(tmp_path: Path) -> None:
    long_dir = tmp_path / ("x" * 40)
    proc = _local_cluster("up", "1", RAYNN_LOCAL_PORT="1999", RAYNN_LOCAL_TEMP_DIR=str(long_dir))
    assert proc.returncode == 2 and "RAYNN_LOCAL_TEMP_DIR must be at most 35 characters long" in proc.stderr
    assert not long_dir.exists()
    proc = _local_cluster("up", "11", RAYNN_LOCAL_PORT="1999")
    assert proc.returncode == 2 and "NODES must be an integer in [1, 10], but got '11'" in proc.stderr
