"""The lab's data plane: what carries the private hosts' packets, behind one interface.

- ``base``: the interface the drills use (``LabDataPlane``); ``kinds``: which one runs here, and building it;
- ``computed``: reachability computed from the emulator's route tables and NAT states (no root);
- ``netns/``: real Linux namespaces and nftables, NATs running the shipped setup-nat.sh (root);
- shared by both: ``spec`` (what the plane should look like) read from the emulator by ``emulator_sync``,
  ``addresses`` (the lab addresses standing for Elastic IPs), ``egress`` (the private hosts' samples),
  ``connlog`` (the long-lived connections' log), ``boot`` (which NATs boot late and offline).

Nothing is imported here, so ``python -m lab.dataplane.netns.client`` (run many times in namespaces) stays fast.
"""
