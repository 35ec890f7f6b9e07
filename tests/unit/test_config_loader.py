"""load_config: format choice, file errors, TOML syntax errors, the shipped examples, no AWS at all."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bootstrap.config import HanatConfig, load_config
from chalicelib.errors import ConfigError
from chalicelib.settings import FailoverSettings, MaintenanceSettings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

MINIMAL_TOML = """
[stack]
name = "t"
region = "ap-northeast-1"
vpc_cidr = "10.0.0.0/16"

[[zones]]
az = "ap-northeast-1a"

[[zones]]
az = "ap-northeast-1c"
"""


def test_example_hanat_toml_loads():
    cfg = load_config(str(EXAMPLES / "hanat.toml"))
    assert isinstance(cfg, HanatConfig)
    assert (cfg.stack.name, cfg.stack.region, cfg.stack.vpc_cidr) == ("demo", "ap-northeast-1", "10.0.0.0/16")
    assert cfg.azs == ("ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d")
    assert [z.private_cidr for z in cfg.zones] == ["10.0.16.0/20", "10.0.32.0/20", "10.0.48.0/20"]
    assert cfg.alerts.emails == ("ops@example.com",) and cfg.warnings == ()
    assert cfg.source == str(EXAMPLES / "hanat.toml")
    assert (cfg.failover, cfg.maintenance) == (FailoverSettings(), MaintenanceSettings())  # shows the defaults


def test_example_lab_toml_loads_with_lab_targets():
    cfg = load_config(str(EXAMPLES / "lab.toml"))
    assert cfg.stack.name == "lab" and len(cfg.zones) == 2
    assert cfg.probe.targets == ("http://198.51.100.10/", "tcp://198.51.100.11:80", "http://203.0.113.10/")
    assert (cfg.probe.interval_s, cfg.probe.min_hold_s, cfg.failover.replace_after_s) == (1, 5, 20)


def test_missing_file_is_a_config_error_naming_it(tmp_path):
    path = str(tmp_path / "nope.toml")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.exit_code == 2 and info.value.problems == [f"{path}: no such file"]


def test_directory_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(str(tmp_path))


def test_non_utf8_file_is_a_config_error(tmp_path):
    path = tmp_path / "bin.toml"
    path.write_bytes(b"[stack]\nname = \"\xff\xfe\"\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(str(path))


def test_toml_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('[stack]\nname = "t"\nregion = ap-northeast-1\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(path))
    (problem,) = info.value.problems
    assert problem.startswith(f"{path}: TOML syntax error") and "line 3" in problem


def test_settings_cfg_saved_as_toml_gets_a_hint(tmp_path):
    path = tmp_path / "settings.toml"
    path.write_text((EXAMPLES / "dupsworks-settings.cfg").read_text())
    with pytest.raises(ConfigError, match="looks like a DupsWorks settings.cfg"):
        load_config(str(path))


@pytest.mark.parametrize("name", ["settings.cfg", "settings.ini", "settings.conf", "settings"])
def test_dupsworks_format_chosen_by_suffix_or_content(tmp_path, name):
    path = tmp_path / name
    path.write_text((EXAMPLES / "dupsworks-settings.cfg").read_text())
    assert load_config(str(path)).stack.name == "mystack"


def test_toml_without_suffix_is_read_as_toml(tmp_path):
    path = tmp_path / "hanat.conf"
    path.write_text(MINIMAL_TOML)
    assert load_config(str(path)).azs == ("ap-northeast-1a", "ap-northeast-1c")


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + MINIMAL_TOML.encode())
    assert load_config(str(path)).stack.name == "t"


def test_loading_never_imports_an_aws_sdk():
    """No AWS call can happen: loading both formats does not even import boto3/botocore."""
    code = (
        "import sys; from bootstrap.config import load_config; "
        f"load_config({str(EXAMPLES / 'hanat.toml')!r}); load_config({str(EXAMPLES / 'dupsworks-settings.cfg')!r}); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
