"""Deploy the controller with ``chalice deploy`` against the emulator (what ``hanat deploy`` runs).

The Chalice project is copied into a lab work directory first, so the lab's stage never touches the
repository's .chalice/config.json; the directory persists between runs so Chalice's dependency
cache (.chalice/deployments) makes later deploys fast. The deployed functions exercise the deploy
path (IAM roles, functions, rules, the SNS subscription); the lab then runs the same handlers'
service code in-process on its own clock, since the emulator cannot execute Lambda code.
"""
from __future__ import annotations

import importlib.util
import shutil
import tempfile
import time
from pathlib import Path

from bootstrap.deploy.chalice_cli import run_chalice
from bootstrap.deploy.project import default_project_dir
from bootstrap.deploy.stage import write_stage

LAB_STAGE = "lab"
WORK_DIR = Path(tempfile.gettempdir()) / "hanat-lab-chalice"
PROJECT_FILES = ("app.py",)
PROJECT_DIRS = ("chalicelib",)
# The Lambda runtime dependencies (requirements.txt), vendored from this machine's installed copies:
# Chalice would otherwise `pip download` them, and the lab sends no traffic off the machine.
VENDORED_PACKAGES = ("aws_lambda_powertools", "jmespath", "typing_extensions")


def vendor_runtime_dependencies(work_dir: Path) -> list[str]:
    """Copy the installed runtime packages into ``vendor/`` (Chalice ships vendor/ as is) and leave
    requirements.txt empty, so the deployment package is complete without any download."""
    vendor = work_dir / "vendor"
    shutil.rmtree(vendor, ignore_errors=True)
    vendor.mkdir()
    copied = []
    for name in VENDORED_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise RuntimeError(f"runtime dependency {name} is not installed (make install)")
        origin = Path(spec.origin)
        if origin.name == "__init__.py":
            shutil.copytree(origin.parent, vendor / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(origin, vendor / origin.name)
        copied.append(name)
    (work_dir / "requirements.txt").write_text("# lab: runtime dependencies are vendored in vendor/\n")
    return copied


def prepare_project(work_dir: Path = WORK_DIR) -> Path:
    """A fresh copy of the Chalice project (code and config), keeping Chalice's package cache."""
    source = default_project_dir()
    work_dir.mkdir(parents=True, exist_ok=True)
    for name in PROJECT_FILES:
        shutil.copy2(source / name, work_dir / name)
    for name in PROJECT_DIRS:
        shutil.rmtree(work_dir / name, ignore_errors=True)
        shutil.copytree(source / name, work_dir / name, ignore=shutil.ignore_patterns("__pycache__"))
    vendor_runtime_dependencies(work_dir)
    chalice = work_dir / ".chalice"
    chalice.mkdir(exist_ok=True)
    for item in (source / ".chalice").iterdir():
        if item.is_file():
            shutil.copy2(item, chalice / item.name)
    shutil.rmtree(chalice / "deployed", ignore_errors=True)   # the emulator was reset: nothing exists
    return work_dir


def deploy_controller(topology, region: str, *, stage: str = LAB_STAGE, work_dir: Path = WORK_DIR) -> dict:
    """Write the stage for ``topology`` and run ``chalice deploy``; returns what was deployed."""
    project = prepare_project(work_dir)
    write_stage(project, topology, stage)
    started = time.monotonic()
    proc = run_chalice(["deploy", "--stage", stage], project, region=region)
    arns = [line.split("Lambda ARN:")[1].strip() for line in proc.stdout.splitlines() if "Lambda ARN:" in line]
    return {"stage": stage, "seconds": round(time.monotonic() - started, 2), "functions": arns}
