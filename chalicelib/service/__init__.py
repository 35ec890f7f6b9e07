"""The controller's use-cases: the heartbeat loop and one sweep, reconcile (observe, decide, claim, write,
verify) with route repair and publishing beside it, what runs after a sweep (replacement, roll, closing
expired handoffs), instance-state events, manual operations, adoption and status."""
