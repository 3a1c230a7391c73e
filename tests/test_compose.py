"""docker-compose.yaml checked against the code (Docker cannot run here)."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bank_scoring import config

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yaml"
AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-init",
}
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def commands_of(service: dict) -> list[list[str]]:
    """The airflow / bank-scoring invocations a service runs."""
    command = service["command"]
    if isinstance(command, list) and command[:2] == ["bash", "-c"]:
        return [shlex.split(part) for part in re.split(r"&&|;", command[2])]
    words = command if isinstance(command, list) else shlex.split(command)
    return [["airflow", *words]]  # the Airflow image's entrypoint prefixes `airflow`


def test_the_deployment_has_every_part(compose):
    assert {"postgres", "redis"} | AIRFLOW_SERVICES <= set(compose["services"])
    assert "bank-scoring-models" in compose["volumes"]


@pytest.mark.airflow  # starts Airflow's CLI once per command
@pytest.mark.parametrize("name", sorted(AIRFLOW_SERVICES))
def test_service_commands_are_real_airflow_3_commands(compose, name):
    for words in commands_of(compose["services"][name]):
        program = {"airflow": "airflow", "bank-scoring": "bank-scoring"}[words[0]]
        done = subprocess.run([str(BIN / program), *words[1:], "--help"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (name, words, done.stderr[-500:])


def test_every_airflow_container_sees_dags_and_models_and_runs_the_installed_package(compose):
    env = compose["x-airflow-common"]["environment"]
    for name in AIRFLOW_SERVICES:
        service = compose["services"][name]
        mounts = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
        assert mounts["/opt/bank-scoring/dags"] == "./dags"
        # The package and its SQL come from the image (installed, not editable): no mount shadows them.
        assert "/opt/bank-scoring/sql" not in mounts and "/opt/bank-scoring/bank_scoring" not in mounts
        assert mounts[env["BANK_SCORING_MODEL_DIR"]] == "bank-scoring-models"
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == "/opt/bank-scoring/dags"


def test_host_paths_exist(compose):
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            host = volume.split(":")[0]
            if host.startswith("."):
                assert (ROOT / host).exists(), host
    assert (ROOT / "Dockerfile").is_file()
    for copied in re.findall(r"^COPY (?:--\S+ )*(.+) \S+$", (ROOT / "Dockerfile").read_text(), re.M):
        for path in copied.split():
            assert (ROOT / path).exists(), path


def test_environment_names_are_the_ones_the_code_reads(compose):
    env = compose["x-airflow-common"]["environment"]
    known = {value for name, value in vars(config).items() if name.endswith("_ENV")}
    ours = {k for k in env if k.startswith("BANK_SCORING_")}
    assert ours and ours <= known, ours - known
    assert f"AIRFLOW_CONN_{config.AIRFLOW_CONN_ID.upper()}" in env
    assert env[f"AIRFLOW_CONN_{config.AIRFLOW_CONN_ID.upper()}"].startswith("postgresql://")


def test_auth_manager_class_exists(compose):
    from importlib import import_module

    module, _, name = compose["x-airflow-common"]["environment"]["AIRFLOW__CORE__AUTH_MANAGER"].rpartition(".")
    assert hasattr(import_module(module), name)


def test_airflow_settings_exist(compose):
    from airflow.configuration import conf

    documented = conf.configuration_description  # Airflow's and its providers' config.yml
    for key in compose["x-airflow-common"]["environment"]:
        if key.startswith("AIRFLOW__"):
            section, option = key.removeprefix("AIRFLOW__").lower().split("__", 1)
            assert option in documented.get(section, {}).get("options", {}), key


def test_the_desk_serves_the_bank_database_with_a_secret_from_env(compose):
    desk = compose["services"]["desk"]
    words = commands_of(desk)[0]
    assert words[:2] == ["exec", "bank-scoring"] and words[2] == "serve"
    done = subprocess.run([str(BIN / "bank-scoring"), *words[2:], "--help"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (
        desk["environment"]["BANK_SCORING_DB_URL"] == compose["x-airflow-common"]["environment"]["BANK_SCORING_DB_URL"]
    )
    assert desk["environment"]["BANK_SCORING_SECRET_KEY"].startswith("${")
    assert set(desk["environment"]) <= {value for name, value in vars(config).items() if name.endswith("_ENV")}
    assert "8000:8000" in desk["ports"]


def test_no_secret_in_the_file(compose):
    text = COMPOSE.read_text()
    for url in re.findall(r"\w[\w+]*://[^\s]+", text):
        if "@" in url and ":" in url.split("://")[1].split("@")[0]:
            assert "${" in url.split("@")[0], url
    assert compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${")


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="Debian's docker-compose is not installed")
def test_docker_compose_config_accepts_it():
    env = {
        **os.environ,
        "POSTGRES_PASSWORD": "test-only",
        "AIRFLOW_JWT_SECRET": "test-only",
        "BANK_SCORING_SECRET_KEY": "test-only",
    }
    done = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
