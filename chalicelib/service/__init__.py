"""The controller's use cases: sweep (heartbeat), instance-state events, manual operations."""
