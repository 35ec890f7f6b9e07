"""The controller's use-cases: the sweep and the heartbeat loop, reconcile (observe, decide, claim,
write, verify, publish), instance-state events, manual operations, status, and NAT replacement."""
