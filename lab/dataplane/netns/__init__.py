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
  ``http_get`` by role (``inet``, ``aws``, ``igw``, ``vpc``, ``priv-<i>``, ``probe-<i>``, ``nat-<n>``),
  faults ``blackhole(az, on)``, ``flaky(on, loss)``, ``targets_down(on)``, ``kernel_routes()``.
- ``client``: the egress client (``python -m lab.dataplane.netns.client``). ``httpserver``: the internet's
  ``{"you": ip}`` server. ``conns``: long-lived connections. ``imds``: IMDSv2 for the NATs.
  ``probe_agent``: the probe functions' process in a probe namespace.
- ``shell.cleanup_orphans(min_age_s)``: delete namespaces no live run owns (``hanat lab down``; each
  run records its owner in ``/run/hanat-lab``, see ``registry``); ``cleanup_leftovers(prefix)``: a
  run's own prefix, whatever owns it.
- ``fabric``: the namespaces built once (``inet``, ``aws``, ``igw``, ``vpc``, the hosts); ``nats``: the NAT
  instances' and NAT gateways' namespaces (one interface each, in the public subnet, private address only).
- ``layout``: the pure names/addresses/tables and the NAT life-cycle planner; ``igw`` (the internet gateway's
  1:1 Elastic IP translation), ``faults``, ``natgw``, ``offline``: nftables rulesets.
- ``gray_faults``: the gray drills' faults in a NAT (``Namespaces.gray``), with ``conntrack_limit`` (the
  emulated conntrack limit), ``load`` (bulk download, held connections) and ``ena/ethtool`` (ENA's
  allowance counter made of a tbf qdisc's counts, on the lab agents' PATH).

The shape is AWS's: a NAT's packets arrive and leave on its one interface; its default route is the VPC
router, whose main table (the public subnets') goes to the internet gateway, which translates each
Elastic IP (a lab address) 1:1 to the private address it is associated with. The internet sees only
Elastic IPs; a NAT without one has no way out.

Safety: namespaces are linked only to each other; none is linked to the host's network, the lab
internet is 198.51.100.0/24 and 203.0.113.0/24 inside ``inet`` (the router-gateway link is
169.254.255.0/30). Every namespace is named ``hanat-<run_id>-<role>``.

Nothing is imported here, so ``python -m lab.dataplane.netns.client`` (run many times in namespaces) stays fast.
"""
