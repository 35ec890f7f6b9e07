"""The operator docs are true. docs/runbook.md is executable: every `hanat ...` line of its ```sh
blocks runs, in order, through the real CLI (in process) against the loopback moto server, and must
exit 0. The README's settings table names every key of the configuration model with its real default,
and the README and docs/alerts.md explain every alert type.

What the test supplies around the commands, as an account and an operator would:
- `hanat.toml` is examples/hanat.toml and `settings.cfg` is examples/dupsworks-settings.cfg;
- the IAM users the settings.cfg grants access to exist (a DupsWorks account had them);
- after each `hanat up`, heartbeat sweeps (scripted probes, all passing) prove every NAT UP, as the
  controller `hanat deploy` installs would;
- `hanat deploy` gets `--project-dir` of a project copy with an empty requirements.txt (Chalice
  would otherwise download wheels: tests never leave loopback), and `hanat down` the same directory
  (it removes the controller with `chalice delete` from there, as from the repository);
- `--watch` without `--count` gets `--count 1` (the stand-in for the operator's Ctrl-C).
Lines marked `# needs-aws` (the deployed Lambda path) are not run here, and must stay few.
"""
from __future__ import annotations

import re
import shlex
import shutil
import time
import tomllib
from dataclasses import MISSING, dataclass, fields, is_dataclass
from pathlib import Path

import boto3
import pytest

from bootstrap.config import load_config
from bootstrap.config.schema import (
    AdminConfig,
    AlertsConfig,
    HanatConfig,
    MetricsConfig,
    NameTemplates,
    NatConfig,
    PermissionConfig,
    StackConfig,
    TrafficConfig,
    ZoneConfig,
)
from chalicelib.alerts import ALERT_TYPES
from chalicelib.aws import params
from chalicelib.engine import UP
from chalicelib.naming import STACK_TAG, topology_parameter
from chalicelib.service.deps import Clients, Deps
from chalicelib.service.heartbeat import run_sweep
from chalicelib.service.maintenance import after_sweep
from chalicelib.settings import FailoverSettings, MaintenanceSettings, ProbeSettings
from controller.cli import main
from tests.support.stack import FakeClock, ScriptedProbes

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "runbook.md"
README = ROOT / "README.md"
CONFIGS = {"hanat.toml": ROOT / "examples" / "hanat.toml",
           "settings.cfg": ROOT / "examples" / "dupsworks-settings.cfg"}
NEEDS_AWS = re.compile(r"#.*\bneeds-aws\b")
REGION = "ap-northeast-1"


@dataclass(frozen=True)
class RunbookCommand:
    line: int
    argv: tuple[str, ...]        # after "hanat"
    needs_aws: bool

    @property
    def subcommand(self) -> str:
        return self.argv[0]


def runbook_commands(markdown: str) -> list[RunbookCommand]:
    """Every `hanat` line inside ```sh fences (other fences and prose are not commands)."""
    commands, fence = [], None
    for number, line in enumerate(markdown.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = stripped[3:].strip() if fence is None else None
            continue
        if fence != "sh":
            continue
        words = shlex.split(line, comments=True)
        if words and words[0] == "hanat":
            commands.append(RunbookCommand(number, tuple(words[1:]), bool(NEEDS_AWS.search(line))))
    return commands


@pytest.mark.parametrize("markdown, expected", [
    ("```sh\nhanat status --config hanat.toml\n```", [(("status", "--config", "hanat.toml"), False)]),
    ("```sh\nhanat status --via-lambda   # needs-aws\n```", [(("status", "--via-lambda"), True)]),
    ('```sh\nhanat pause --zone z --reason "a # b"  # why\n```', [(("pause", "--zone", "z", "--reason", "a # b"), False)]),
    ("hanat up --config x\n```text\nhanat up\n```\n```\nhanat up\n```", []),   # prose, other fences
    ("```sh\n# hanat up\naws ec2 stop-instances\n```", []),                     # comments, other tools
])
def test_runbook_commands_are_found_as_documented(markdown, expected):
    assert [(c.argv, c.needs_aws) for c in runbook_commands(markdown)] == expected


def operator_argv(command: RunbookCommand, project_dir: Path) -> list[str]:
    argv = [str(CONFIGS.get(word, word)) for word in command.argv]
    if command.subcommand in ("deploy", "down") and "--project-dir" not in argv:
        argv += ["--project-dir", str(project_dir)]
    if "--watch" in argv and "--count" not in argv:
        argv += ["--count", "1"]
    return argv


def chalice_project(dst: Path) -> Path:
    """The real Chalice project (app.py, chalicelib, .chalice/config.json), requirements emptied."""
    shutil.copy(ROOT / "app.py", dst / "app.py")
    shutil.copytree(ROOT / "chalicelib", dst / "chalicelib", ignore=shutil.ignore_patterns("__pycache__"))
    (dst / ".chalice").mkdir()
    shutil.copy(ROOT / ".chalice" / "config.json", dst / ".chalice" / "config.json")
    (dst / "requirements.txt").write_text("")
    return dst


def clients() -> Clients:
    return Clients(ec2=boto3.client("ec2", region_name=REGION), dynamodb=boto3.client("dynamodb", region_name=REGION),
                   ssm=boto3.client("ssm", region_name=REGION))


def prove_every_nat(config_path: str) -> None:
    """What the deployed heartbeat does after `up`: sweeps whose probes pass until every NAT is UP."""
    stack = load_config(config_path).stack.name
    c = clients()
    clock = FakeClock(start=time.time() - 300)      # in the past: the operator's commands come later
    for _ in range(10):
        clock.sleep(10)
        topo = params.read_topology(c.ssm, topology_parameter(stack))
        report = run_sweep(Deps(topology=topo, clients=c, probe_runner=ScriptedProbes(clock), clock=clock,
                                sleep=clock.sleep, owner="heartbeat"), then=after_sweep)
        if set(report.health.values()) == {UP}:
            return
    raise AssertionError(f"stack {stack}: NATs not proven UP: {report.health}")


def create_permission_users(config_path: Path) -> None:
    iam = boto3.client("iam", region_name=REGION)
    for permission in load_config(str(config_path)).permissions:
        iam.create_user(UserName=permission.iam_user_arn.rsplit("/", 1)[-1])


def test_runbook_documents_every_operation_and_marks_few_lines():
    commands = runbook_commands(RUNBOOK.read_text())
    runnable = [c for c in commands if not c.needs_aws]
    assert {c.subcommand for c in runnable} >= {"plan", "up", "deploy", "status", "failover", "revert",
                                                "pause", "resume", "replace", "down"}
    assert any("--watch" in c.argv for c in runnable)
    assert any("settings.cfg" in c.argv and c.subcommand == "plan" for c in runnable)   # the migration
    assert all("--config" in c.argv for c in commands)            # a config path the test substitutes
    marked = [c for c in commands if c.needs_aws]
    assert len(marked) <= 3 and all("--via-lambda" in c.argv for c in marked)


def test_every_runbook_command_runs_against_the_emulator(emulator_env, tmp_path, capsys):
    project = tmp_path / "project"
    project.mkdir()
    chalice_project(project)
    create_permission_users(CONFIGS["settings.cfg"])
    ran = []
    for command in runbook_commands(RUNBOOK.read_text()):
        if command.needs_aws:
            continue
        argv = operator_argv(command, project)
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        out, err = capsys.readouterr()
        assert exit_.value.code == 0, f"runbook line {command.line}: hanat {' '.join(command.argv)}\n{err}"
        ran.append((command.subcommand, out))
        if command.subcommand == "up":
            prove_every_nat(argv[argv.index("--config") + 1])
    assert len(ran) >= 20
    # the manual replacement really started (its step shows in the mode column after it)
    statuses_after_replace = [out for sub, out in ran[[s for s, _ in ran].index("replace"):] if sub == "status"]
    assert any("replacing: " in out for out in statuses_after_replace)
    # and the last lines (`down`) removed everything the runbook built, the deployed controllers first
    ec2 = boto3.client("ec2", region_name=REGION)
    tagged = ec2.describe_vpcs(Filters=[{"Name": "tag-key", "Values": [STACK_TAG]}])["Vpcs"]
    assert tagged == []
    assert [sub for sub, _ in ran].count("deploy") >= 2
    assert boto3.client("lambda", region_name=REGION).list_functions()["Functions"] == []
    assert boto3.client("events", region_name=REGION).list_rules()["Rules"] == []


# --- the README's settings table and the alert docs ---------------------------------------------
SECTIONS = {"stack": StackConfig, "zones[]": ZoneConfig, "nat": NatConfig, "probe": ProbeSettings,
            "failover": FailoverSettings, "maintenance": MaintenanceSettings, "alerts": AlertsConfig,
            "admin": AdminConfig, "permissions[]": PermissionConfig, "names": NameTemplates,
            "traffic": TrafficConfig, "metrics": MetricsConfig}
REQUIRED = object()


def readme_section(title: str) -> str:
    return README.read_text().split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def documented_settings() -> dict[str, str]:
    """key -> default cell of the README's settings table."""
    rows = (re.match(r"\| `([a-z_\[\].]+)` \| (.+?) \| ", line) for line in readme_section("Settings").splitlines())
    return {m[1]: m[2] for m in rows if m}


def model_settings() -> dict[str, object]:
    """key -> default of the configuration model (REQUIRED when it has none)."""
    assert set(SECTIONS) == {f"{f.name}[]" if f.name in ("zones", "permissions") else f.name
                             for f in fields(HanatConfig)} - {"source", "warnings"}
    out = {}
    for section, cls in SECTIONS.items():
        for f in (f for f in fields(cls) if f.init):   # not the values derived from them (ProbeSettings.chain_s)
            default = (f.default if f.default is not MISSING else
                       f.default_factory() if f.default_factory is not MISSING else REQUIRED)
            if is_dataclass(default):   # keys kept together in one value (nat.market: market, spot_fallback)
                out.update({f"{section}.{g.name}": getattr(default, g.name) for g in fields(default) if g.init})
                continue
            out[f"{section}.{f.name}"] = list(default) if isinstance(default, tuple) else default
    return out


def cell_value(cell: str) -> object:
    if cell.startswith("*(required") or cell == "derived":
        return REQUIRED
    text = cell.strip("`")
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text                        # a bare word: auto, t4g.nano


def test_readme_settings_table_has_every_key_with_its_real_default():
    documented, model = documented_settings(), model_settings()
    assert sorted(documented) == sorted(model)
    wrong = {key: (documented[key], model[key]) for key in model if cell_value(documented[key]) != model[key]}
    assert wrong == {}
    derived = {key for key, cell in documented.items() if cell == "derived"}
    assert derived == {"zones[].public_cidr", "zones[].private_cidr", "zones[].probe_cidr"}


def test_every_alert_type_is_explained():
    readme_alerts = readme_section("Alerts")
    alerts_doc = (ROOT / "docs" / "alerts.md").read_text()
    for alert_type in ALERT_TYPES:
        assert f"| `{alert_type}` |" in readme_alerts
        assert f"| `{alert_type}` |" in alerts_doc
