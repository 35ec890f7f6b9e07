"""An operation's progress (``--wait``): shown from the state table until the operation ends.

(Log tailing, ``hanat logs --follow``, is ``views/logs.py``'s; this module only waits on operations.)
The operation is started by the command (directly or through the ``operate`` function); the heartbeat
carries it on. ``show_until_done`` reads the state table every ``poll_s`` and prints one line per new
step (zone, step, detail) on stderr, with a spinner on a terminal; it ends with the operation: done
(exit 0), or failed / stopped / out of time (exit 1, saying where it is; the controller carries on
regardless).

A progress reader is registered per action (``register``): ``replace`` reads the zone's replacement
record, ``roll`` the roll record and the replacement of the zone being rolled. Other operations
(``cutover``) register theirs the same way.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rich.console import Console
from rich.markup import escape

from chalicelib.engine.state import CUT_OVER, RELEASED
from chalicelib.errors import HanatError, InputError
from chalicelib.replacement import machine as m
from chalicelib.replacement import roll_machine as r
from chalicelib.service import reconcile, replacement_store, roll
from chalicelib.service.deps import Deps
from chalicelib.service.history import list_history

DEFAULT_POLL_S = 5.0
MIN_POLL_S = 0.2
DEFAULT_TIMEOUT_S = 4 * 3600.0


@dataclass(frozen=True)
class Step:
    key: str          # unique per step (printed once)
    at: float         # epoch seconds
    zone: str
    text: str
    rank: tuple = ()  # orders steps recorded in the same second (a roll's zone turn: start, steps, done)


@dataclass
class Progress:
    """Where an operation is: its steps so far, whether it ended and how, and one line saying what it
    waits for."""

    steps: list[Step] = field(default_factory=list)
    done: bool = False
    failed: bool = False
    summary: str = ""


# action -> (deps, the command's payload, the operation's answer) -> Progress now
ProgressReader = Callable[[Deps, dict, dict], Progress]
PROGRESS_READERS: dict[str, ProgressReader] = {}


def register(action: str, reader: ProgressReader) -> None:
    PROGRESS_READERS[action] = reader


class WaitFailed(HanatError):
    """The awaited operation failed, stopped, or did not end in time (exit 1)."""


def _epoch(entry: str) -> float:
    try:
        return float(entry.split(" ", 1)[0])
    except ValueError:
        return 0.0


STEP_WORDS = {m.STEP_AWAIT_ROUTES: "proven", m.STEP_RETIRING: "retiring the old NAT", m.STEP_STARTING: "wiring"}


def _history_steps(zone: str, history: Iterable[str], prefix: str, rank: tuple = ()) -> list[Step]:
    """A replacement's ``"<epoch> <step> <note>"`` entries -> steps."""
    out = []
    for entry in history:
        step, _, note = entry.partition(" ")[2].partition(" ")
        out.append(Step(f"{prefix}:{zone}:{entry}", _epoch(entry), zone,
                        f"replacement {STEP_WORDS.get(step, step)}" + (f": {note}" if note else ""), rank))
    return out


def replacement_progress(deps: Deps, zone: str, started_after: float = 0.0) -> Progress:
    rec = replacement_store.load(deps, zone)
    if rec is None or rec.started_at < started_after:
        return Progress(summary=f"{zone}: no replacement recorded yet")
    progress = Progress(steps=_history_steps(zone, rec.history, f"replace:{rec.started_at}"))
    if rec.status == m.DONE:
        progress.done, progress.summary = True, f"{zone}: NAT {rec.old_instance_id} replaced by {rec.new_instance_id}"
    elif rec.status == m.FAILED:
        progress.done = progress.failed = True
        progress.summary = f"{zone}: replacement {rec.step}: {rec.last_error or 'failed'}"
    else:
        progress.summary = f"{zone}: {rec.step}"
    return progress


def read_replace(deps: Deps, payload: dict, answer: dict) -> Progress:
    started = ((answer.get("replacement") or {}).get("replacement") or {}).get("started_at") or 0.0
    return replacement_progress(deps, payload["zone"], started)


def read_roll(deps: Deps, payload: dict, answer: dict) -> Progress:
    roll_id = (answer.get("roll") or {}).get("roll_id")
    rec = roll.load_roll(deps)
    if rec is None or (roll_id and rec.roll_id != roll_id):
        return Progress(summary="no roll recorded yet")
    steps = []
    for entry in rec.history:            # "<epoch> <zone>: replacing its NAT", "<epoch> stopped at <zone>: ..."
        note = entry.partition(" ")[2]
        first, _, rest = note.partition(" ")
        zone = first[:-1] if first.endswith(":") and first[:-1] in rec.zones else ""
        if zone:   # a zone's turn: "replacing its NAT" first, its replacement's steps, then the rest
            rank = (rec.zones.index(zone), 0 if rest.startswith("replacing") else 2)
        else:      # the roll's own lines: started before every zone, done/stopped after
            rank = (-1,) if note.startswith(("started", "resumed")) else (len(rec.zones),)
        steps.append(Step(f"roll:{entry}", _epoch(entry), zone, f"roll: {rest}" if zone else f"roll {note}", rank))
    # every replacement this roll started (a zone's last steps land while the roll moves on)
    for az, rep in replacement_store.load_all(deps).items():
        if rep.roll_id == rec.roll_id and az in rec.zones:
            steps += _history_steps(az, rep.history, f"replace:{rep.started_at}", (rec.zones.index(az), 1))
    progress = Progress(steps=steps)
    if rec.current:
        current = replacement_progress(deps, rec.current, rec.replacement_started_at)
        progress.summary = f"roll {rec.roll_id}: {len(rec.done)}/{len(rec.zones)} done; {current.summary}"
    else:
        progress.summary = f"roll {rec.roll_id}: {len(rec.done)}/{len(rec.zones)} done"
    if rec.status == r.ROLL_DONE:
        progress.done = True
        progress.summary = f"roll {rec.roll_id}: every zone rolled ({', '.join(rec.done)})"
    elif rec.status == r.STOPPED:
        progress.done = progress.failed = True
        progress.summary = f"roll {rec.roll_id} stopped at {rec.stopped_zone}: {rec.stopped_because}"
    return progress


def read_cutover(deps: Deps, payload: dict, answer: dict) -> Progress:
    """The zones of a ``cutover --wait``: done when every one is cut over (by the command, or by the
    controller once its NAT is proven); failed when one was released meanwhile."""
    zones = list(answer.get("zones") or [])
    started = min((m.get("at", 0.0) for m in answer.get("alerts") or []), default=0.0) or deps.clock() - 60
    _, states = reconcile.load_states(deps)
    steps = [Step(f"cutover:{e['at']}:{e.get('zone')}", e["at"], e.get("zone") or "", e.get("text", "cut over"))
             for e in list_history(deps, since=started - 1)
             if e.get("kind") == "cutover" and e.get("zone") in zones]
    waiting = [az for az in zones if states[az].adoption != CUT_OVER]
    released = [az for az in zones if states[az].adoption == RELEASED]
    progress = Progress(steps=steps)
    if released:
        progress.done = progress.failed = True
        progress.summary = f"released meanwhile: {', '.join(released)}"
    elif not waiting:
        progress.done, progress.summary = True, f"cut over: {', '.join(zones)}"
    else:
        probe = deps.topology.probe
        progress.summary = "waiting for proof: " + ", ".join(
            f"{az} ({states[az].health}, {states[az].passes}/{probe.recover_after} passed)" for az in waiting)
    return progress


register("replace", read_replace)
register("roll", read_roll)
register("cutover", read_cutover)


def wait_options(wait: bool, timeout: str | None, poll: str | None) -> tuple[float, float]:
    """``--timeout`` and ``--poll`` checked together (InputError naming each bad value)."""
    problems = []
    values = {"--timeout": (timeout, DEFAULT_TIMEOUT_S, 1.0), "--poll": (poll, DEFAULT_POLL_S, MIN_POLL_S)}
    out = {}
    for flag, (text, default, low) in values.items():
        out[flag] = default
        if text is None:
            continue
        if not wait:
            problems.append(f"{flag}: only applies with --wait")
            continue
        try:
            out[flag] = float(text)
            if not out[flag] >= low:
                problems.append(f"{flag}: {text!r} must be at least {low:g} seconds")
        except ValueError:
            problems.append(f"{flag}: {text!r} is not a number of seconds")
    if problems:
        raise InputError(problems, title="invalid --wait options")
    return out["--timeout"], out["--poll"]


def step_line(step: Step) -> str:
    """The same shape as the CLI's log lines (controller/views/logs.py): time, zone, what happened."""
    when = datetime.fromtimestamp(step.at, UTC).strftime("%H:%M:%S") if step.at else "--:--:--"
    zone = f" [cyan]{escape(step.zone)}[/cyan]" if step.zone else ""
    return f"[dim]{when}[/dim]{zone} {escape(step.text)}"


def show_until_done(read: Callable[[], Progress], console: Console, *, timeout_s: float, poll_s: float,
           sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> Progress:
    """Poll ``read`` until the operation ends; each step printed once, in time order. WaitFailed when it
    failed, stopped, or is still running after ``timeout_s`` (the controller carries on either way)."""
    seen: set[str] = set()
    started = clock()
    status = console.status("", spinner="dots") if console.is_terminal else None
    if status is not None:
        status.start()
    try:
        while True:
            progress = read()
            for step in sorted(progress.steps, key=lambda st: (st.at, st.rank)):
                if step.key not in seen:
                    seen.add(step.key)
                    console.print(step_line(step), highlight=False, soft_wrap=True)
            if status is not None:
                status.update(escape(progress.summary))
            if progress.done:
                break
            if clock() - started > timeout_s:
                raise WaitFailed(f"still running after {timeout_s:.0f}s: {progress.summary}; the controller carries "
                                 "on (`hanat status --watch` follows it)")
            sleep(poll_s)
    finally:
        if status is not None:
            status.stop()
    if progress.failed:
        raise WaitFailed(progress.summary)
    console.print(f"[green]done:[/green] {escape(progress.summary)}", highlight=False, soft_wrap=True)
    return progress
