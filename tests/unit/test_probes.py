"""Probe checks against servers started on 127.0.0.1 only (never a real address)."""
from __future__ import annotations

import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from chalicelib.errors import InputError
from chalicelib.probes import parse_targets, run_checks
from chalicelib.probes.handler import handle_probe
from chalicelib.settings import ProbeSettings


class _Ok(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):
        self.send_response(self.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


class _Broken(_Ok):
    status = 503


@pytest.fixture
def http_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/health"
    server.shutdown()
    server.server_close()


@pytest.fixture
def http_503_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Broken)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture
def tcp_url():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield f"tcp://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.fixture
def closed_url():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens: connections are refused at once
    return f"tcp://127.0.0.1:{port}"


@pytest.fixture
def blackhole_url():
    """A listener that never accepts, its queue already full: new SYNs are dropped (like a dead NAT)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(0)
    port = sock.getsockname()[1]
    fillers = []
    for _ in range(3):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", port))
        fillers.append(c)
    time.sleep(0.05)
    yield f"tcp://127.0.0.1:{port}"
    for c in fillers:
        c.close()
    sock.close()


@pytest.fixture
def silent_http_url():
    """Accepts connections but never answers the GET."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held, stop = [], threading.Event()

    def accept():
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                pass

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    stop.set()
    for c in held:
        c.close()
    sock.close()


@pytest.fixture
def lossy_http_url():
    """Stalls the first two connections (lost packets), answers from the third: needs retries."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    seen, held, stop = [0], [], threading.Event()

    def serve():
        sock.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            seen[0] += 1
            if seen[0] <= 2:
                held.append(conn)
                continue
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    stop.set()
    for c in held:
        c.close()
    sock.close()


def clock():
    return 1_700_000_000.0


def test_tcp_and_http_targets_answer(tcp_url, http_url):
    result = run_checks("az-a", [tcp_url, http_url], 1.0, clock)
    assert result.passed and result.zone == "az-a" and result.at == clock()
    assert [r.ok for r in result.results] == [True, True]
    assert all(r.latency_ms is not None and r.latency_ms < 1000 for r in result.results)
    assert all(r.error is None for r in result.results)


def test_passes_when_any_target_answers(closed_url, http_url):
    result = run_checks("az-a", [closed_url, http_url], 0.6, clock)
    assert result.passed
    refused, ok = result.results
    assert not refused.ok and "refused" in refused.error.lower() and refused.attempts > 1
    assert ok.ok


@pytest.mark.parametrize("fixture", ["closed_url", "blackhole_url", "silent_http_url", "http_503_url"])
def test_dead_target_fails_within_timeout(request, fixture):
    url = request.getfixturevalue(fixture)
    started = time.monotonic()
    result = run_checks("az-a", [url], 0.6, clock)
    elapsed = time.monotonic() - started
    assert not result.passed
    assert result.results[0].error
    assert elapsed < 0.6 + 0.3, f"{fixture} took {elapsed:.2f}s for a 0.6s timeout"


def test_black_hole_reports_timeout(blackhole_url):
    result = run_checks("az-a", [blackhole_url], 0.6, clock)
    assert result.results[0].error == "timeout"
    assert result.results[0].attempts >= 2  # retried inside its timeout


def test_targets_checked_in_parallel(blackhole_url, silent_http_url, closed_url):
    started = time.monotonic()
    result = run_checks("az-a", [blackhole_url, silent_http_url, closed_url], 0.8, clock)
    assert not result.passed
    assert time.monotonic() - started < 1.2  # three dead targets cost one timeout, not three


def test_retries_ride_out_lost_packets(lossy_http_url):
    result = run_checks("az-a", [lossy_http_url], 1.5, clock)
    assert result.passed
    assert result.results[0].attempts == 3


@pytest.mark.parametrize("targets, needle", [
    (["ftp://127.0.0.1/"], "scheme 'ftp'"),
    (["tcp://127.0.0.1"], "needs a port"),
    (["http:///nohost"], "no host"),
    (["tcp://127.0.0.1:99999"], "not a valid URL"),
    ([], "at least one"),
    ("tcp://127.0.0.1:80", "must be a list"),
])
def test_bad_targets_rejected(targets, needle):
    with pytest.raises(InputError) as exc:
        parse_targets(targets)
    assert needle in str(exc.value)


def test_every_bad_target_named():
    with pytest.raises(InputError) as exc:
        parse_targets(["ftp://a/", "tcp://b", "http://127.0.0.1/"])
    assert len(exc.value.problems) == 2
    assert "ftp://a/" in str(exc.value) and "tcp://b" in str(exc.value)


def test_handler_uses_defaults_and_event(tcp_url, closed_url):
    defaults = ProbeSettings(targets=(tcp_url,), timeout_s=0.5)
    answer = handle_probe("az-a", {}, defaults, clock)
    assert answer["passed"] and answer["zone"] == "az-a"
    answer = handle_probe("az-a", {"targets": [closed_url], "timeout_s": 0.3}, defaults, clock)
    assert not answer["passed"] and answer["results"][0]["target"] == closed_url
    assert "confirmations" not in answer                    # one sample unless the heartbeat asks for more


def test_handler_confirms_a_failure_in_the_same_invoke_and_a_pass_needs_no_confirmation(tcp_url, closed_url):
    """The heartbeat sends samples = fail_after: a refused path is probed again at once (probes/samples.py)."""
    answer = handle_probe("az-a", {"targets": [closed_url], "timeout_s": 0.3, "samples": 2}, ProbeSettings(), clock)
    assert not answer["passed"] and [c["passed"] for c in answer["confirmations"]] == [False]
    assert answer["confirmations"][0]["hedged"]   # refused attempts retry to the deadline: confirmed alongside
    answer = handle_probe("az-a", {"targets": [tcp_url], "timeout_s": 0.3, "samples": 2}, ProbeSettings(), clock)
    assert answer["passed"] and "confirmations" not in answer


def test_handler_rejects_bad_event_naming_every_problem():
    with pytest.raises(InputError) as exc:
        handle_probe("az-a", {"targets": "x", "timeout_s": -1, "extra": 1}, ProbeSettings(), clock)
    text = str(exc.value)
    assert len(exc.value.problems) == 3
    assert "'extra'" in text and "timeout_s" in text and "targets" in text


# --- one deadline, one address per attempt ------------------------------------------------------
class FakeNet:
    """A resolver and a connector on a fake monotonic clock: every connection attempt to a dead address
    takes its whole timeout (a SYN into a dead NAT), to a live one it succeeds."""

    def __init__(self, addresses, live=()):
        self.now = 0.0
        self.addresses = [(socket.AF_INET, (a, 443)) for a in addresses]
        self.live = set(live)
        self.resolved = 0
        self.tried: list[tuple[str, float]] = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds

    def resolve(self, host, port):
        self.resolved += 1
        return self.addresses

    def connect(self, family, sockaddr, timeout):
        self.tried.append((sockaddr[0], timeout))
        if sockaddr[0] in self.live:
            a, b = socket.socketpair()
            b.close()
            return a
        self.now += timeout
        raise TimeoutError("timed out")


def _target(url):
    return parse_targets([url])[0]


def test_a_name_with_six_addresses_through_a_dead_nat_fails_within_one_timeout():
    """create_connection would give each of the 6 addresses the whole attempt timeout (4 s for one
    attempt of a 2 s probe); here each attempt tries one address and all of them share one deadline."""
    from chalicelib.probes.checks import check_target
    net = FakeNet([f"198.51.100.{i}" for i in range(1, 7)])
    result = check_target(_target("tcp://probe.invalid:443"), 2.0, monotonic=net.monotonic, sleep=net.sleep,
                          resolve=net.resolve, connect=net.connect)
    assert not result.ok and result.error == "timeout"
    assert net.now <= 2.0 and net.resolved == 1
    assert [a for a, _ in net.tried] == ["198.51.100.1", "198.51.100.2", "198.51.100.3"]   # rotates
    assert all(t <= 2.0 / 3 + 1e-9 for _, t in net.tried)


def test_attempts_rotate_to_an_address_that_answers():
    from chalicelib.probes.checks import check_target
    net = FakeNet(["198.51.100.1", "198.51.100.2"], live={"198.51.100.2"})
    result = check_target(_target("tcp://probe.invalid:443"), 2.0, monotonic=net.monotonic, sleep=net.sleep,
                          resolve=net.resolve, connect=net.connect)
    assert result.ok and result.attempts == 2


def test_an_unresolvable_name_fails_that_target_naming_it():
    from chalicelib.probes.checks import check_target

    def resolve(host, port):
        raise socket.gaierror(-2, "Name or service not known")
    result = check_target(_target("tcp://probe.invalid:443"), 1.0, resolve=resolve)
    assert not result.ok and "probe.invalid" in result.error


def test_real_sockets_six_addresses_of_a_black_hole_end_on_time(blackhole_url):
    """The same on loopback: a name resolving to 6 addresses that all drop SYNs (a full accept queue)."""
    port = int(blackhole_url.rsplit(":", 1)[1])

    def resolve(host, p):
        return [(socket.AF_INET, ("127.0.0.1", port))] * 6
    started = time.monotonic()
    result = run_checks("az-a", [f"tcp://probe.invalid:{port}"], 0.9, clock, resolve=resolve)
    assert not result.passed and time.monotonic() - started < 0.9 + 0.3


def test_run_checks_answers_on_time_even_if_a_check_is_stuck():
    release = threading.Event()

    def resolve(host, port):   # a resolver that hangs
        release.wait(5)
        return []
    started = time.monotonic()
    result = run_checks("az-a", ["tcp://probe.invalid:443"], 0.4, clock, resolve=resolve)
    release.set()
    assert not result.passed and result.results[0].error == "timeout"
    assert time.monotonic() - started < 0.4 + 0.4


class _HostRecorder(BaseHTTPRequestHandler):
    hosts: ClassVar[list[str]] = []

    def do_GET(self):
        _HostRecorder.hosts.append(self.headers["Host"])
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_http_connects_to_the_resolved_address_and_sends_the_name_as_host():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HostRecorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        result = run_checks("az-a", [f"http://checkip.example.test:{port}/"], 1.0, clock,
                            resolve=lambda host, p: [(socket.AF_INET, ("127.0.0.1", p))])
    finally:
        server.shutdown()
        server.server_close()
    assert result.passed and _HostRecorder.hosts[-1] == f"checkip.example.test:{port}"


def test_https_uses_the_name_for_sni_and_the_certificate_check():
    from chalicelib.probes.checks import check_target
    seen = []

    class Tls:
        def wrap_socket(self, sock, server_hostname=None):
            seen.append(server_hostname)
            raise ssl.SSLCertVerificationError("certificate verify failed")
    net = FakeNet(["198.51.100.7"], live={"198.51.100.7"})
    result = check_target(_target("https://checkip.example.test/"), 1.0, monotonic=net.monotonic,
                          sleep=net.sleep, resolve=net.resolve, connect=net.connect, tls=Tls())
    assert not result.ok and "certificate verify failed" in result.error
    assert seen and set(seen) == {"checkip.example.test"} and net.tried[0][0] == "198.51.100.7"
