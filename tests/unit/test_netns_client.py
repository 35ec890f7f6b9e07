"""The egress client's log and its readers (outages -> RTO, egress addresses), without namespaces."""
from __future__ import annotations

import json

import pytest

from lab.dataplane.egress import EgressSample, egress_addresses, outages, parse_egress_lines, read_egress_log
from lab.dataplane.netns.client import main


def s(t: float, ok: bool, you: str | None = None) -> EgressSample:
    return EgressSample(t, ok, you if ok else None, 1.0 if ok else None, None if ok else "timeout")


@pytest.mark.parametrize("samples, expected", [
    ([], []),
    ([s(0, True), s(1, True)], []),
    ([s(0, True), s(1, False), s(2, False), s(3.5, True)], [(1, 3.5, 2.5)]),
    ([s(0, False), s(1, True), s(2, False)], [(0, 1, 1), (2, None, None)]),
])
def test_outages(samples, expected):
    assert [(o.start, o.end, o.duration_s) for o in outages(samples)] == expected


def test_egress_addresses_in_order_of_first_appearance():
    samples = [s(0, True, "203.0.113.101"), s(1, False), s(2, True, "203.0.113.102"), s(3, True, "203.0.113.101")]
    assert egress_addresses(samples) == ["203.0.113.101", "203.0.113.102"]


def test_reader_sorts_and_skips_a_torn_last_line(tmp_path):
    log = tmp_path / "egress.jsonl"
    log.write_text(s(2, True, "203.0.113.101").to_json() + "\n" + s(1, False).to_json() + "\n" + '{"t": 3, "o')
    samples = read_egress_log(log)
    assert [x.t for x in samples] == [1, 2]
    assert samples[1] == EgressSample(2, True, "203.0.113.101", 1.0, None)
    assert json.loads(samples[0].to_json())["error"] == "timeout"


def test_a_log_read_as_it_grows_parses_to_the_samples_written():
    """Lines arrive in chunks (lab.dataplane.netns.plane reads the log while the client writes it): each
    complete line is the sample written, in file order; what is not JSON yet is skipped."""
    written = [s(1, True, "203.0.113.101"), s(1.1, False), s(1.2, True, "203.0.113.102")]
    lines = [x.to_json() for x in written]
    assert parse_egress_lines(lines) == written
    assert parse_egress_lines([lines[0], "", lines[1][:7]]) == written[:1]
    assert [x.to_dict() for x in written] == [json.loads(line) for line in lines]


def test_cli_refuses_bad_arguments_naming_each(capsys):
    with pytest.raises(SystemExit) as err:
        main(["--interval", "0", "--count", "-1"])
    assert err.value.code == 2
    message = capsys.readouterr().err
    for needle in ("--interval=0.0", "--count=-1", "--out is required"):
        assert needle in message
