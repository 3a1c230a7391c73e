"""Packaging: what pyproject.toml declares, what the wheel carries, and a wheel installed for real.

Runtime dependencies are pyproject.toml's [project] dependencies (the DAGs' in the
``airflow`` extra), pinned in requirements.txt; test and lint tools are the ``dev`` extra,
pinned by constraints.txt; the production image installs requirements.txt only.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from support import require

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
TEST_TOOLS = {"pytest", "ruff"}


def requirements(path: Path) -> dict[str, Requirement]:
    """The pinned requirements of a requirements file, by canonical name (includes followed)."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found.update(requirements(path.parent / line.split(None, 1)[1]))
        elif line and not line.startswith("-"):
            req = Requirement(line)
            found[canonicalize_name(req.name)] = req
    return found


def declared(group: list[str]) -> dict[str, Requirement]:
    return {
        canonicalize_name(req.name): req
        for req in map(Requirement, group)
        if canonicalize_name(req.name) != canonicalize_name(PROJECT["name"])
    }


def pinned_version(req: Requirement) -> Version:
    (spec,) = req.specifier
    assert spec.operator == "==", f"{req} is not pinned"
    return Version(spec.version)


def third_party_imports(folder: Path) -> set[str]:
    names = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    local = {p.stem for p in folder.glob("*.py")} | {"bank_scoring"}
    return {n for n in names if n not in sys.stdlib_module_names and n not in local}


def test_every_package_is_listed_and_sql_ships_inside_the_package():
    setuptools = PYPROJECT["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "bank_scoring").rglob("__init__.py")}
    assert set(setuptools["packages"]) == on_disk | {"bank_scoring.sql"}
    assert setuptools["package-dir"]["bank_scoring.sql"] == "sql" and (ROOT / "sql" / "customers.sql").is_file()
    assert setuptools["package-data"]["bank_scoring.sql"] == ["*.sql"]
    assert setuptools["package-data"]["bank_scoring.desk"] == ["templates/*.html"]
    assert PROJECT["scripts"]["bank-scoring"] == "bank_scoring.cli:main"


def test_every_import_is_a_declared_dependency():
    dists = {module: {canonicalize_name(d) for d in names} for module, names in packages_distributions().items()}
    runtime = set(declared(PROJECT["dependencies"]))
    airflow = runtime | set(declared(PROJECT["optional-dependencies"]["airflow"]))
    # The desk's web stack is the `desk` extra: only the desk (and `serve`, lazily) import it.
    desk = runtime | set(declared(PROJECT["optional-dependencies"]["desk"]))
    for module in third_party_imports(ROOT / "bank_scoring" / "desk"):
        assert dists.get(module, set()) & desk, f"desk imports {module}, which nothing declares"
    for folder, allowed in ((ROOT / "bank_scoring", desk), (ROOT / "dags", airflow)):
        for module in third_party_imports(folder):
            assert dists.get(module, set()) & allowed, f"{folder.name} imports {module}, which nothing declares"


def test_requirements_pin_what_pyproject_declares():
    extras = PROJECT["optional-dependencies"]
    runtime = declared(PROJECT["dependencies"]) | declared(extras["airflow"]) | declared(extras["desk"])
    pins = requirements(ROOT / "requirements.txt")
    assert set(pins) == set(runtime), "requirements.txt pins exactly the runtime dependencies, airflow and desk extras"
    assert not TEST_TOOLS & set(pins), "test and lint tools stay out of the production requirements"
    dev = declared(PROJECT["optional-dependencies"]["dev"])
    assert TEST_TOOLS <= set(dev) and "bank-scoring[airflow,desk]" in PROJECT["optional-dependencies"]["dev"]
    constraints = requirements(ROOT / "constraints.txt")
    for name, req in runtime.items():
        assert pinned_version(pins[name]) in req.specifier, f"{pins[name]} does not satisfy {req}"
        assert pinned_version(constraints[name]) == pinned_version(pins[name]), name
    for name, req in dev.items():
        if name in constraints:  # setuptools is not frozen: any release the specifier allows
            assert pinned_version(constraints[name]) in req.specifier, f"{constraints[name]} does not satisfy {req}"
    assert TEST_TOOLS <= set(constraints)


def test_the_production_image_installs_the_wheel_without_test_tools():
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = re.findall(r"pip install [^\n]*", dockerfile)
    assert any("-r requirements.txt" in line for line in installs)
    assert "[dev]" not in dockerfile and "constraints.txt" in dockerfile
    assert not any(" -e " in line or "--editable" in line for line in installs)


@pytest.mark.slow
def test_a_wheel_installed_into_a_fresh_venv_runs_init_db(tmp_path):
    import setuptools

    require(
        Version(setuptools.__version__) >= Version("77"),
        f"setuptools {setuptools.__version__} cannot build this project: install the dev extra",
    )
    # Nothing downloaded: no index, the build backend taken from this environment.
    pip_env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1"}
    src = tmp_path / "src"  # a copy: building writes build/ beside the sources
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src)
    for name in ("bank_scoring", "sql"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(tmp_path / "dist"),
            str(src),
        ],
        capture_output=True,
        text=True,
        env=pip_env,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("bank_scoring-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    assert {f"bank_scoring/sql/{p.name}" for p in (ROOT / "sql").glob("*.sql")} <= names
    assert {
        "bank_scoring/cli/__main__.py",
        "bank_scoring/scoring/__init__.py",
        "bank_scoring/training/__init__.py",
    } <= names
    assert re.search(r"^Requires-Dist: (?i:sqlalchemy)", metadata, re.M)
    assert re.search(r"^Requires-Dist: pytest.*; extra == \"dev\"$", metadata, re.M)

    # A venv of its own whose only bank_scoring is the wheel's; the other libraries are read
    # from this environment's site-packages (a .pth adds the folder, not its editable hook).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", str(wheel)],
        capture_output=True,
        text=True,
        env=pip_env,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stdout[-2000:] + installed.stderr[-2000:]
    # Added after the install, so pip saw an empty venv and this environment stayed out of its reach.
    ours = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    (site / "project_libraries.pth").write_text("\n".join(ours) + "\n")

    work = tmp_path / "work"  # away from the checkout, which must not be importable
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BANK_SCORING_", "PYTHON"))}
    env["BANK_SCORING_DB_URL"] = f"sqlite:///{work / 'bank.db'}"
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import bank_scoring, bank_scoring.cli, bank_scoring.scoring, "
            "bank_scoring.training; from bank_scoring.db import SQL_DIR; "
            "print(bank_scoring.__file__); print(SQL_DIR)",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
        timeout=120,
    )
    assert where.returncode == 0, where.stderr[-2000:]
    package_file, sql_dir = map(Path, where.stdout.split())
    assert package_file.is_relative_to(site) and sql_dir == site / "bank_scoring" / "sql"

    done = subprocess.run(
        [str(venv / "bin" / "bank-scoring"), "init-db"], capture_output=True, text=True, env=env, cwd=work, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"schema ready in sqlite:///{work / 'bank.db'}")
    with sqlite3.connect(work / "bank.db") as conn:
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type in ('table', 'view')")}
    assert {"customers", "customer_scores", "model_versions", "agent_worklist"} <= tables
