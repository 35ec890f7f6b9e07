"""The stack builder: configuration, plan -> apply -> destroy, and the NAT setup script."""
