"""Run drills end to end: emulator up, one fresh lab session per drill, everything down after.

A fresh session per drill (emulator reset, ``hanat up``, ``chalice deploy``, data plane) keeps the
drills independent: one drill's failovers never count towards the next one's flap damping.
"""
from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable, Sequence
from contextlib import contextmanager

from chalicelib.errors import InputError

from .dataplane import choose_dataplane
from .drills import SCENARIOS, DrillOptions, run_drill
from .emulator import Emulator, pointed_at
from .labconfig import LabSettings
from .report import DrillReport
from .session import LabSession


def expand_scenarios(name: str) -> list[str]:
    if name == "all":
        return list(SCENARIOS)
    if name not in SCENARIOS:
        raise InputError(f"--scenario {name!r} is not one of {', '.join(SCENARIOS)}, all")
    return [name]


def route_controller_logs(verbose: bool) -> None:
    """The controller logs (Powertools, to stdout in Lambda) go to stderr in the lab, so stdout stays
    one JSON document; without ``verbose`` only warnings and errors are shown."""
    log = logging.getLogger("hanat")
    for handler in log.handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)
    log.setLevel(logging.INFO if verbose else logging.WARNING)


@contextmanager
def sigterm_as_interrupt():
    """SIGTERM unwinds like Ctrl-C, so every ``finally`` (namespaces, processes) still runs."""
    def raise_interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    try:
        previous = signal.signal(signal.SIGTERM, raise_interrupt)
    except ValueError:   # not the main thread: nothing to install
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_scenarios(scenarios: Sequence[str], settings: LabSettings, *, dataplane: str | None,
                  options: DrillOptions, progress: Callable[[str], None], deploy: bool = True,
                  seed: int = 0, verbose: bool = False, on_report: Callable[[DrillReport], None] | None = None) -> list[DrillReport]:
    kind = choose_dataplane(dataplane)
    if options.zone is not None and options.zone not in settings.config.azs:
        raise InputError(f"--zone {options.zone!r} is not in the config (zones: {', '.join(settings.config.azs)})")
    import chalicelib.observability  # noqa: F401 - creates the controller's logger, rerouted next
    route_controller_logs(verbose)
    reports: list[DrillReport] = []
    with sigterm_as_interrupt():
        emulator = Emulator(region=settings.config.stack.region)
        emulator.start()
        try:
            with pointed_at(emulator):
                for i, scenario in enumerate(scenarios):
                    progress(f"[{i + 1}/{len(scenarios)}] drill {scenario} ({kind} data plane)")
                    with LabSession(settings, dataplane=kind, emulator=emulator, progress=progress,
                                    deploy=deploy, seed=seed + i) as session:
                        report = run_drill(session, scenario, options)
                    reports.append(report)
                    if on_report:
                        on_report(report)
        finally:
            emulator.stop()
    return reports
