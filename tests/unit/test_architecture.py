"""The architecture contracts of ARCHITECTURE.md, checked by import-linter (config in pyproject.toml):
chalicelib imports nothing from bootstrap/controller/lab; the pure engine and replacement machine import
neither boto3 nor the adapters; the adapters import neither the engine nor the use-cases; only the
adapters import boto3; bootstrap imports nothing from controller or lab; lab imports nothing from controller;
no import cycles in lab or chalicelib; layers (controller and lab above bootstrap above chalicelib); no
import cycles in bootstrap (nor bootstrap.stack, nor controller); chalicelib.wiring (the Lambda's assembly)
is imported by app.py alone."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("chalicelib", "bootstrap", "controller", "lab")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True))"
    return subprocess.run([sys.executable, "-c", code], check=False, cwd=cwd, env={"PYTHONPATH": str(cwd)},
                          capture_output=True, text=True, timeout=120)


def test_every_contract_holds():
    proc = lint_imports(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "11 kept, 0 broken" in proc.stdout


def test_the_wiring_contract_names_every_other_module_of_chalicelib():
    """A new module of chalicelib is under "imported by app.py alone" too (import-linter's forbidden
    contract lists its sources: chalicelib minus wiring)."""
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    [wiring] = [c for c in contracts if c.get("forbidden_modules") == ["chalicelib.wiring"]]
    modules = {f"chalicelib.{p.stem}" for p in (ROOT / "chalicelib").iterdir()
               if (p.suffix == ".py" or (p / "__init__.py").exists()) and p.stem not in ("__init__", "wiring")}
    assert modules <= set(wiring["source_modules"])


@pytest.fixture(scope="module")
def copy_of_the_tree(tmp_path_factory) -> Path:
    tree = tmp_path_factory.mktemp("tree")
    shutil.copy(ROOT / "pyproject.toml", tree)
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"))
    return tree


@pytest.mark.parametrize("module, line, broken", [
    pytest.param("chalicelib/engine/decide.py", "from ..aws import routes  # noqa", "pure engine", id="engine-imports-adapter"),
    pytest.param("chalicelib/replacement/machine.py", "import boto3  # noqa", "pure engine", id="machine-imports-boto3"),
    pytest.param("chalicelib/aws/routes.py", "from ..service import reconcile  # noqa", "AWS adapters", id="adapter-imports-service"),
    pytest.param("chalicelib/topology.py", "import lab  # noqa", "ships to Lambda", id="chalicelib-imports-lab"),
    pytest.param("bootstrap/config/loader.py", "import controller  # noqa", "bootstrap imports", id="bootstrap-imports-controller"),
    pytest.param("chalicelib/service/deps.py", "import boto3  # noqa", "only the adapters", id="service-imports-boto3"),
    pytest.param("chalicelib/service/reconcile.py", "from . import sweep  # noqa", "cycles", id="cycle-in-service"),
    pytest.param("chalicelib/settings.py", "from bootstrap.config import schema  # noqa", "layers",
                 id="chalicelib-imports-bootstrap"),
    pytest.param("bootstrap/stack/network/adopted.py", "from .. import planner  # noqa", "inside bootstrap",
                 id="cycle-in-bootstrap-stack"),
    pytest.param("bootstrap/config/loader.py", "from ..stack import api  # noqa", "inside bootstrap",
                 id="cycle-in-bootstrap"),
    pytest.param("bootstrap/stack/release.py", "from chalicelib import wiring  # noqa", "app.py alone",
                 id="bootstrap-imports-wiring"),
    pytest.param("lab/demo.py", "import controller.cli  # noqa", "lab imports nothing from controller",
                 id="lab-imports-controller"),
    pytest.param("lab/aws/emulator.py", "from lab.drills import runner  # noqa", "cycles inside lab", id="cycle-in-lab"),
    pytest.param("chalicelib/service/status.py", "from .. import wiring  # noqa", "app.py alone", id="service-imports-wiring"),
])
def test_a_broken_contract_is_caught(copy_of_the_tree, module, line, broken):
    path = copy_of_the_tree / module
    original = path.read_text()
    path.write_text(original + "\n" + line + "\n")
    try:
        proc = lint_imports(copy_of_the_tree)
    finally:
        path.write_text(original)
    assert proc.returncode != 0
    assert any(broken in row and "BROKEN" in row for row in proc.stdout.replace("\n", " ").split("KEPT")), proc.stdout
