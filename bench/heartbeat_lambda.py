"""One heartbeat invocation as Lambda runs it, in a process of its own, for its peak memory (bench/sweep.py).

    python bench/heartbeat_lambda.py SECONDS     (environment: the stage's HANAT_* variables, the AWS_*
                                                  endpoints of the emulator and the lab's Invoke endpoint)

Imports app.py (and so everything the deployed function imports: Chalice, Powertools, boto3, chalicelib),
then calls its ``heartbeat`` handler with a scheduled event and a context that gives it SECONDS: the real
``default_deps`` (topology from SSM, every boto3 client), probes through the production
``LambdaProbeRunner``. Prints one JSON line: the process's peak RSS (what Lambda reports as
"Max Memory Used" is the sandbox's peak resident memory) and the sweeps it ran. Only loopback is used.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


class Context:
    """The parts of the Lambda context object the handler reads."""

    def __init__(self, seconds: float):
        self._until = time.monotonic() + seconds
        self.aws_request_id = "bench-heartbeat"
        self.function_name = "hanat-bench-heartbeat"
        self.function_version = "$LATEST"
        self.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:hanat-bench-heartbeat"
        self.memory_limit_in_mb = 128
        self.log_group_name = self.log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return int(max(0.0, self._until - time.monotonic()) * 1000)


SCHEDULED_EVENT = {"version": "0", "id": "bench", "detail-type": "Scheduled Event", "source": "aws.events",
                   "account": "123456789012", "time": "2026-01-01T00:00:00Z", "region": "us-east-1",
                   "resources": ["arn:aws:events:us-east-1:123456789012:rule/bench"], "detail": {}}


def peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM (it starts afresh with exec, unlike getrusage's
    ru_maxrss, which keeps the forking parent's peak)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def cpu_s() -> float:
    """CPU seconds this process has used (user + system)."""
    t = os.times()
    return t.user + t.system


def main(argv: list[str]) -> int:
    seconds = float(argv[0]) if argv else 10.0
    bare = peak_rss_mb()
    cpu0, wall0 = cpu_s(), time.monotonic()
    import app  # the deployed function's whole import set, measured
    imported, cpu_imports, wall_imports = peak_rss_mb(), cpu_s() - cpu0, time.monotonic() - wall0
    answer = app.heartbeat(SCHEDULED_EVENT, Context(seconds))
    cpu_run = cpu_s() - cpu0 - cpu_imports
    sweeps = answer.get("sweeps", [])
    errors = [s.get("error") for s in sweeps if s.get("error")]
    print(json.dumps({"peak_rss_mb": peak_rss_mb(), "imported_rss_mb": imported, "interpreter_rss_mb": bare,
                      "sweeps": len(sweeps), "errors": errors[:3],
                      "cpu_imports_s": round(cpu_imports, 3), "cpu_run_s": round(cpu_run, 3),
                      "wall_imports_s": round(wall_imports, 3),
                      "sweep_s": [round(s.get("duration_s") or 0.0, 3) for s in sweeps]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
