"""Lab time: a discrete-event scheduler behind the lab.clock interface, the computed data plane's clock.

Lab time stands still while any *participant* runs and jumps to the earliest wake-up once every
participant waits in the clock, so a drill that spans minutes of lab time takes the wall time of its
work only (the controller's AWS calls, the moto server's answers: zero lab time). A participant is a
thread started with ``thread()``, a thread inside ``participant()`` (the drill's own), a task run with a
``token()`` taken when it was handed over (an EventBridge delivery), or a request inside ``claim()`` (a
Lambda invoke). A thread blocked on something other than the clock — an HTTP answer, a lock, a join of a
plain thread — counts as running until it returns, so lab time never passes under work in flight.

One hand-over crosses HTTP: the heartbeat waits for its probe invokes, which run (and wait in the clock)
in the Lambda endpoint's request threads. The caller ``lend(n)``s its turn to the ``n`` invokes it
makes; each request ``claim()``s one of them on arrival, so lab time cannot pass between the send and
the arrival, nor between the last answer and the caller's return.

Work takes no lab time, so many things happen at one instant; each read of the clock returns a moment
one microsecond after the one before (``TICK_S``), so the order of reads is the order of the timestamps
(a sample stamped before a fault was taken before it, as on the wall clock).

A wait by a thread that is no participant does not hold lab time (it is an observer); its name is
kept in ``strays`` so a missing hand-over shows up in the tests.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from lab.clock import Token

log = logging.getLogger("hanat.lab.clock")
TICK_S = 1e-6     # lab time between two reads of the clock at one instant: reads are ordered as they happened
STALL_S = 120.0   # wall seconds a participant may wait with no clock activity before the busy ones are logged


class _Turn:
    """One participant's turn: running (``busy``) or waiting in the clock."""

    __slots__ = ("bound", "busy", "loan", "name", "orphan")

    def __init__(self, name: str, loan: _Loan | None = None):
        self.name, self.busy, self.loan, self.bound, self.orphan = name, False, loan, False, False


class _Loan:
    __slots__ = ("closed", "turns")

    def __init__(self) -> None:
        self.turns: list[_Turn] = []
        self.closed = False


class _Waiter:
    __slots__ = ("turn", "woken")

    def __init__(self, turn: _Turn | None):
        self.turn, self.woken = turn, False


class _VirtualEvent:
    def __init__(self, clock: VirtualClock):
        self._clock = clock
        self._flag = False
        self._waiters: list[_Waiter] = []

    def set(self) -> None:
        with self._clock._cond:
            self._flag = True
            for w in self._waiters:
                self._clock._wake(w)
            self._waiters.clear()
            self._clock._cond.notify_all()

    def clear(self) -> None:
        with self._clock._cond:
            self._flag = False

    def is_set(self) -> bool:
        return self._flag

    def wait(self, timeout: float | None = None) -> bool:
        return self._clock._wait(self, timeout)


class _VirtualThread:
    """A thread that is a participant from ``start()`` (its turn taken by the starter) to its end."""

    def __init__(self, clock: VirtualClock, target: Callable[..., object], name: str, args: tuple):
        self.name = name
        self._clock, self._target, self._args = clock, target, args
        self._done = clock.event()
        self._turn: _Turn | None = None
        self._thread = threading.Thread(target=self._body, name=name, daemon=True)

    def start(self) -> None:
        self._turn = self._clock._new_turn(self.name)
        self._thread.start()

    def _body(self) -> None:
        def run() -> None:
            try:
                self._target(*self._args)
            finally:
                self._done.set()   # while its turn still runs: a joiner wakes before lab time can pass
        self._clock._run_as(self._turn, run)

    def join(self, timeout: float | None = None) -> None:
        if self._clock._current() is not None:   # a participant joins in lab time
            self._done.wait(timeout)
            if self._done.is_set():
                self._thread.join(5.0)
        else:
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        return self._thread.is_alive()


class _VirtualToken(Token):
    def __init__(self, clock: VirtualClock, turn: _Turn):
        self._clock, self._turn = clock, turn

    def run(self, fn: Callable[..., object], *args) -> object:
        return self._clock._run_as(self._turn, fn, *args)


class VirtualClock:
    """Lab time as a discrete-event scheduler (see the module doc); it starts at the wall time of its making."""

    virtual = True

    def __init__(self, start: float | None = None):
        self._cond = threading.Condition()
        self._now = time.time() if start is None else float(start)
        self._last = self._now     # the last time read
        self._busy = 0
        self._turns: set[_Turn] = set()
        self._timers: list[tuple[float, int, _Waiter]] = []
        self._seq = itertools.count()
        self._unclaimed: list[_Turn] = []
        self._local = threading.local()
        self._activity = 0
        self.strays: set[str] = set()     # threads that waited without being participants

    # --- what actors use ----------------------------------------------------------------------------
    def time(self) -> float:
        with self._cond:
            self._last = max(self._now, self._last + TICK_S)
            return self._last

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._wait(None, seconds)

    def event(self) -> _VirtualEvent:
        return _VirtualEvent(self)

    def thread(self, target: Callable[..., object], name: str, args: tuple = ()) -> _VirtualThread:
        return _VirtualThread(self, target, name, args)

    @contextmanager
    def participant(self, name: str) -> Iterator[None]:
        """The calling thread takes part for the block (a no-op when it already does)."""
        if self._current() is not None:
            yield
            return
        turn = self._new_turn(name)
        self._bind(turn)
        try:
            yield
        finally:
            self._unbind(turn, None)
            with self._cond:
                self._retire(turn)

    def token(self, name: str) -> Token:
        return _VirtualToken(self, self._new_turn(name))

    @contextmanager
    def lend(self, expect: int) -> Iterator[None]:
        """The calling participant waits for ``expect`` requests that ``claim`` its turn (module doc)."""
        me = self._current()
        loan = _Loan()
        with self._cond:
            for _ in range(max(0, expect)):
                turn = _Turn("lent", loan)
                self._take(turn)
                self._turns.add(turn)
                loan.turns.append(turn)
                self._unclaimed.append(turn)
            if me is not None:
                self._idle(me)
            self._advance()
        try:
            yield
        finally:
            with self._cond:
                if me is not None:
                    self._take(me)
                loan.closed = True
                for turn in loan.turns:
                    if turn in self._unclaimed:
                        self._unclaimed.remove(turn)
                    if turn.bound:
                        turn.orphan = True     # still running: retired when its request ends
                    else:
                        self._retire(turn)
                self._advance()

    @contextmanager
    def claim(self, name: str) -> Iterator[None]:
        """A request some participant waits on: it takes a lent turn (or a turn of its own)."""
        with self._cond:
            turn = self._unclaimed.pop(0) if self._unclaimed else None
            if turn is None:
                turn = _Turn(name)
                self._take(turn)
                self._turns.add(turn)
        previous = self._current()
        self._bind(turn)
        try:
            yield
        finally:
            self._unbind(turn, previous)
            with self._cond:
                loan = turn.loan
                last = (loan is not None and not loan.closed and not self._unclaimed_of(loan)
                        and not any(t.bound for t in loan.turns))
                if not last:   # the last answer keeps lab time still until the lender is back
                    self._retire(turn)
                self._advance()

    # --- diagnostics ----------------------------------------------------------------------------------
    def busy(self) -> list[str]:
        with self._cond:
            return sorted(t.name for t in self._turns if t.busy)

    # --- inside -------------------------------------------------------------------------------------------
    def _current(self) -> _Turn | None:
        return getattr(self._local, "turn", None)

    def _bind(self, turn: _Turn) -> None:
        self._local.turn = turn
        turn.bound = True

    def _unbind(self, turn: _Turn, previous: _Turn | None) -> None:
        self._local.turn = previous
        turn.bound = False

    def _unclaimed_of(self, loan: _Loan) -> bool:
        return any(t in self._unclaimed for t in loan.turns)

    def _new_turn(self, name: str) -> _Turn:
        with self._cond:
            turn = _Turn(name)
            self._take(turn)
            self._turns.add(turn)
            return turn

    def _run_as(self, turn: _Turn, fn: Callable[..., object], *args) -> object:
        previous = self._current()
        self._bind(turn)
        try:
            return fn(*args)
        finally:
            self._unbind(turn, previous)
            with self._cond:
                self._retire(turn)
                self._advance()

    def _take(self, turn: _Turn) -> None:
        if not turn.busy:
            turn.busy = True
            self._busy += 1
        self._activity += 1

    def _idle(self, turn: _Turn) -> None:
        if turn.busy:
            turn.busy = False
            self._busy -= 1
        self._activity += 1

    def _retire(self, turn: _Turn) -> None:
        self._idle(turn)
        self._turns.discard(turn)

    def _wake(self, waiter: _Waiter) -> None:
        if waiter.woken:
            return
        waiter.woken = True
        if waiter.turn is not None:
            self._take(waiter.turn)

    def _advance(self) -> None:
        """While nobody runs: on to the earliest wake-up, waking everyone due then."""
        while self._busy == 0 and self._timers:
            at, _, waiter = heapq.heappop(self._timers)
            if waiter.woken:
                continue
            self._now = max(self._now, at)
            self._wake(waiter)
            while self._timers and self._timers[0][0] <= self._now:
                self._wake(heapq.heappop(self._timers)[2])
        self._cond.notify_all()

    def _wait(self, event: _VirtualEvent | None, timeout: float | None) -> bool:
        turn = self._current()
        with self._cond:
            if event is not None and event._flag:
                return True
            if timeout is not None and timeout <= 0 and event is not None:
                return False
            waiter = _Waiter(turn)
            if timeout is not None:
                # from the last moment read: a wait starts after what its caller saw
                heapq.heappush(self._timers, (max(self._now, self._last) + timeout, next(self._seq), waiter))
            if event is not None:
                event._waiters.append(waiter)
            if turn is None:
                self.strays.add(threading.current_thread().name)
            else:
                self._idle(turn)
            self._advance()
            seen, since = self._activity, time.monotonic()
            try:
                while not waiter.woken:
                    self._cond.wait(1.0)
                    if self._activity != seen:
                        seen, since = self._activity, time.monotonic()
                    elif time.monotonic() - since > STALL_S:
                        log.warning("lab clock: no activity for %.0fs; running: %s", STALL_S,
                                    ", ".join(sorted(t.name for t in self._turns if t.busy)) or "nobody")
                        since = time.monotonic()
            except BaseException:   # interrupted (Ctrl-C): the wait is dropped and its thread runs again
                self._wake(waiter)
                raise
            return event._flag if event is not None else False
