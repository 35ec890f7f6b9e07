"""The NAT instance's own software: setup-nat.sh, hanat-nat-agent (with its library hanat-nat-counters),
admin-setup.sh and their rendering."""
