"""The heartbeat's Lambda ProbeRunner: parallel invokes, every failure a failed ProbeResult."""
from __future__ import annotations

import threading
import time

from chalicelib.aws.lambda_invoke import LambdaProbeRunner
from chalicelib.naming import probe_function_name, probe_handler_name

NAMES = {az: probe_function_name("dev", az) for az in ("ap-northeast-1a", "ap-northeast-1c",
                                                                 "ap-northeast-1d", "ap-northeast-1x")}


def test_function_names_follow_chalice_naming():
    assert probe_handler_name("ap-northeast-1a") == "probe_ap_northeast_1a"
    assert NAMES["ap-northeast-1a"] == "hanat-dev-probe_ap_northeast_1a"


def test_results_errors_and_timeouts_become_probe_results():
    release = threading.Event()

    def invoke(name, payload):
        assert payload == {"targets": ["tcp://127.0.0.1:1"], "timeout_s": 0.2}
        if name.endswith("1a"):
            return {"zone": "ignored", "passed": True, "at": 5.0,
                    "results": [{"target": "tcp://127.0.0.1:1", "ok": True, "latency_ms": 1.0}]}
        if name.endswith("1c"):
            raise RuntimeError("lambda.Invoke failed: FunctionError")
        if name.endswith("1d"):
            release.wait(5)  # hangs past the runner's deadline
            return {}
        return {"ok": False, "error": "invalid probe event"}

    runner = LambdaProbeRunner(invoke, NAMES, targets=["tcp://127.0.0.1:1"], timeout_s=0.2,
                               clock=lambda: 9.0, margin_s=0.3)
    started = time.monotonic()
    out = runner(["ap-northeast-1a", "ap-northeast-1c", "ap-northeast-1d", "ap-northeast-1x",
                  "ap-northeast-1z"])
    elapsed = time.monotonic() - started
    release.set()
    assert elapsed < 1.5
    assert out["ap-northeast-1a"].passed and out["ap-northeast-1a"].zone == "ap-northeast-1a"
    assert out["ap-northeast-1a"].results[0].latency_ms == 1.0
    assert not out["ap-northeast-1c"].passed and "FunctionError" in out["ap-northeast-1c"].error
    assert not out["ap-northeast-1d"].passed and "no answer within" in out["ap-northeast-1d"].error
    assert not out["ap-northeast-1x"].passed and "rejected its input" in out["ap-northeast-1x"].error
    assert not out["ap-northeast-1z"].passed and "no probe function" in out["ap-northeast-1z"].error
    assert {r.at for r in out.values() if r.zone != "ap-northeast-1a"} == {9.0}


def test_zones_are_probed_in_parallel():
    def invoke(name, payload):
        time.sleep(0.3)
        return {"zone": name, "passed": True}

    runner = LambdaProbeRunner(invoke, NAMES, targets=["tcp://127.0.0.1:1"], timeout_s=1, clock=time.time)
    started = time.monotonic()
    out = runner(list(NAMES))
    assert all(r.passed for r in out.values())
    assert time.monotonic() - started < 0.6
