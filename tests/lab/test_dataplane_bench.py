"""bench/dataplane.py runs end to end, prints its figures in the promised shape and leaves no namespace behind.

Not a timed test: the figures depend on the machine's load; only their shape, that every configuration
carried traffic, and the clean-up are checked (also after Ctrl-C). The figures' arithmetic (medians,
worst, ratios, the 0.9x verdict) is checked on fixed numbers.
"""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys

import pytest

from bench import dataplane
from bench.dataplane import CONFIGS, METRICS, TARGET, round_order, summarize, verdict_line
from bench.dataplane_lab import OneEniNat
from lab.dataplane.netns.shell import REPO_ROOT, lab_env, list_namespaces, ns_exec

needs_iperf3 = pytest.mark.skipif(not shutil.which("iperf3"), reason="iperf3 missing: `make system-tools` as root")


# As a terminal's foreground process runs it: Ctrl-C raises KeyboardInterrupt. A process started with SIGINT
# ignored (this run's make put in the background by a shell without job control, as CI may) inherits that,
# and Python then installs no handler (signal module docs: "if the handler was not SIG_DFL at startup").
AS_IN_A_TERMINAL = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
                    "runpy.run_module('bench.dataplane', run_name='__main__')")


def bench(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", AS_IN_A_TERMINAL, *args], cwd=REPO_ROOT, env=lab_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def dp_namespaces() -> set[str]:
    return {ns for ns in list_namespaces() if "-dp-" in ns}


@pytest.mark.netns
@needs_iperf3
def test_one_tiny_run_gives_every_figure_of_every_configuration_and_removes_its_namespaces():
    proc = bench("--runs", "1", "--seconds", "1", "--workers", "2", "--json")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert result["order"] == list(CONFIGS) == ["setup-nat", "masquerade", "routing"]
    for config in CONFIGS:
        assert set(result["figures"][config]) == set(METRICS)
        for metric, fig in result["figures"][config].items():
            assert len(fig["values"]) == 1 and fig["median"] == fig["worst"] == fig["values"][0]
            assert fig["median"] > 0, (config, metric)          # traffic went through every configuration
        assert f"round 1/1 {config}:" in err
    for over in ("setup-nat/masquerade", "setup-nat/routing"):
        assert set(result["ratios"][over]) == set(METRICS) and all(r > 0 for r in result["ratios"][over].values())
        assert set(result["paired_ratios"][over]) == set(METRICS)
    assert result["target"]["ratio"] == TARGET and isinstance(result["target"]["met"], bool)
    assert result["counters"]["setup_nat_rules_with_counter"] >= 1   # setup-nat.sh's counters were on
    assert result["counters"]["packets_counted"] == 0    # valid traffic never takes the invalid path
    prefix = result["namespaces"].rstrip("*")
    assert prefix.startswith("hanat-") and result["namespaces_left"] == []
    assert list_namespaces(prefix) == []


@pytest.mark.netns
@needs_iperf3
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_stopped_in_the_middle_it_removes_every_namespace(sig, code):
    before = dp_namespaces()
    proc = bench("--runs", "3", "--seconds", "1", "--workers", "1")
    try:
        for line in proc.stderr:                # the first measurement is done: everything is up
            if line.startswith("round 1/3 setup-nat:"):
                break
        ours = dp_namespaces() - before
        assert {ns.rsplit("-dp-", 1)[1] for ns in ours} == {"client", "nat", "igw"}
        proc.send_signal(sig)
        assert proc.wait(timeout=60) == code
        assert sig == signal.SIGTERM or "interrupted" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not ours & set(list_namespaces())


def test_without_root_or_iperf3_it_says_why_and_exits_1_before_creating_anything(monkeypatch, capsys):
    monkeypatch.setattr(dataplane.os, "geteuid", lambda: 1000)
    assert dataplane.main(["--runs", "1"]) == 1
    assert "needs root" in capsys.readouterr().err
    monkeypatch.setattr(dataplane.os, "geteuid", lambda: 0)
    monkeypatch.setattr(dataplane.shutil, "which", lambda tool: None if tool == "iperf3" else f"/usr/bin/{tool}")
    assert dataplane.main(["--runs", "1"]) == 1
    assert "`iperf3` is missing" in capsys.readouterr().err


def samples(setup: float, masq: float, routing: float) -> dict:
    base = {"tput_1": [1.0, 3.0, 2.0], "tput_4": [2.0, 6.0, 4.0], "cps": [100.0, 300.0, 200.0]}
    return {config: {m: [v * scale for v in values] for m, values in base.items()}
            for config, scale in (("setup-nat", setup), ("masquerade", masq), ("routing", routing))}


def test_figures_are_median_and_lowest_and_ratios_are_of_medians():
    summary = summarize(samples(setup=0.9, masq=1.0, routing=1.2))
    fig = summary["figures"]["masquerade"]["cps"]
    assert (fig.median, fig.worst) == (200.0, 100.0)
    assert summary["ratios"]["setup-nat/masquerade"] == pytest.approx({m: 0.9 for m in METRICS})
    assert summary["ratios"]["setup-nat/routing"] == pytest.approx({m: 0.75 for m in METRICS})
    assert summary["target"]["met"]                      # exactly 0.9x meets the target


def test_round_by_round_ratios_pair_the_runs_of_one_round():
    data = samples(setup=1.0, masq=1.0, routing=1.0)
    data["masquerade"]["tput_1"] = [2.0, 1.0, 4.0]   # a drift the medians hide: [1, 3, 2] over [2, 1, 4]
    paired = summarize(data)["paired"]["setup-nat/masquerade"]["tput_1"]
    assert paired.values == (0.5, 3.0, 0.5) and (paired.median, paired.worst) == (0.5, 0.5)
    assert summarize(data)["ratios"]["setup-nat/masquerade"]["tput_1"] == 1.0   # medians: 2 over 2


def test_over_as_many_rounds_as_configurations_each_takes_each_slot_once():
    rounds = [round_order(CONFIGS, n) for n in range(1, 4)]
    assert rounds[0] == CONFIGS
    for slot in range(3):
        assert sorted(r[slot] for r in rounds) == sorted(CONFIGS)
    assert round_order(CONFIGS, 4) == CONFIGS


def test_a_miss_names_each_figure_below_the_target_and_is_said_not_raised():
    data = samples(setup=1.0, masq=1.0, routing=1.0)
    data["setup-nat"]["cps"] = [v * 0.8 for v in data["setup-nat"]["cps"]]
    target = summarize(data)["target"]
    assert target == {"ratio": TARGET, "of": "setup-nat/masquerade", "met": False, "missed": ["cps"]}
    data["masquerade"]["tput_4"] = [0.0, 0.0, 0.0]      # no figure to divide by is a miss, not a crash
    assert summarize(data)["target"]["missed"] == ["tput_4", "cps"]
    assert verdict_line(target).startswith("target MISSED") and "cps" in verdict_line(target)


@pytest.mark.netns
def test_each_configuration_starts_from_the_namespace_as_it_was_and_is_proven_in_effect():
    lab = OneEniNat()

    def read(key: str) -> str:
        return ns_exec(lab.nat, ["cat", "/proc/sys/" + key.replace(".", "/")]).stdout.strip()

    try:
        lab.up()
        redirects, liberal = read("net.ipv4.conf.all.send_redirects"), read("net.netfilter.nf_conntrack_tcp_be_liberal")
        assert (redirects, liberal) == ("1", "0")     # a fresh namespace's defaults
        for config in ("setup-nat", "masquerade", "routing", "no-filter", "masq+sysctls"):
            lab.apply(config)     # each checks the source address the server sees: the NAT's, or the client's
            ruleset = lab.ruleset()
            shipped = config in ("setup-nat", "no-filter", "masq+sysctls")
            assert (read("net.ipv4.conf.all.send_redirects"), read("net.netfilter.nf_conntrack_tcp_be_liberal")) == (
                ("0", "1") if shipped else (redirects, liberal)), config
            assert ("table inet hanat_nat" in ruleset) == (config in ("setup-nat", "no-filter")), config
            assert ("chain forward" in ruleset) == (config == "setup-nat"), config
            assert ("table ip bench_nat" in ruleset) == (config in ("masquerade", "masq+sysctls")), config
            assert config != "routing" or ruleset.strip() == ""
            assert read("net.ipv4.ip_forward") == "1"
    finally:
        lab.down()
    assert list_namespaces(lab.prefix) == []
