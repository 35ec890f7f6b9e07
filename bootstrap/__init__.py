"""The stack builder: configuration, plan -> apply -> destroy, the deploy planning (``deploy/``), and the NAT setup script."""
