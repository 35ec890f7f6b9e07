"""`hanat deploy` / `hanat package`: stage settings and IAM policies from the topology, then Chalice."""
