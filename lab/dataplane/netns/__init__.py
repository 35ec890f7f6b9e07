"""The namespaces data plane: Linux network namespaces wired like the VPC (root only).

Typical use (a drill)::

    from lab.dataplane.emulator_sync import spec_from_emulator
    from lab.dataplane.egress import read_egress_log, outages
    from lab.dataplane.netns.namespaces import Namespaces

    spec = spec_from_emulator(ec2_client, topology)   # or build a lab.dataplane.spec.DataPlaneSpec by hand
    with Namespaces(spec) as dp:                      # up() ... down(), even on error
        dp.start_egress_client("az-a", "/tmp/a.jsonl")   # priv host polls http://198.51.100.10/
        dp.blackhole("az-a")                           # fault: NAT A drops what it forwards
        dp.exec(dp.probe_role("az-a"), ["python", "-m", "..."], timeout=10)
        ...  # the controller moves routes in the emulator
        dp.sync(spec_from_emulator(ec2_client, topology))  # kernel routes follow the emulator
    print(outages(read_egress_log("/tmp/a.jsonl")))

Pieces:
- ``plane.NetnsDataPlane``: the lab's data plane interface (lab.dataplane.base) over ``Namespaces``.
- ``namespaces.Namespaces(spec, run_id=None)``: ``up()``, ``down()``, ``sync(spec)``, ``exec``/``popen``/
  ``http_get`` by role (``inet``, ``aws``, ``vpc``, ``priv-<i>``, ``probe-<i>``, ``nat-<n>``),
  faults ``blackhole(az, on)``, ``flaky(on, loss)``, ``targets_down(on)``, ``kernel_routes()``.
- ``client``: the egress client (``python -m lab.dataplane.netns.client``). ``httpserver``: the internet's
  ``{"you": ip}`` server. ``conns``: long-lived connections. ``imds``: IMDSv2 for the NATs.
  ``probe_agent``: the probe functions' process in a probe namespace.
- ``shell.cleanup_orphans(min_age_s)``: delete namespaces no live run owns (``hanat lab down``; each
  run records its owner in ``/run/hanat-lab``, see ``registry``); ``cleanup_leftovers(prefix)``: a
  run's own prefix, whatever owns it.
- ``layout``: the pure names/addresses/tables and the NAT life-cycle planner; ``faults``, ``natgw``,
  ``boot``: nftables rulesets.

Safety: namespaces are linked only to each other; none is linked to the host's network, the lab
internet is 198.51.100.0/24 and 203.0.113.0/24 inside ``inet``. Every namespace is named
``hanat-<run_id>-<role>``.

Nothing is imported here, so ``python -m lab.dataplane.netns.client`` (run many times in namespaces) stays fast.
"""
