"""The NAT instance's own software: setup-nat.sh, hanat-nat-agent, admin-setup.sh and their rendering."""
