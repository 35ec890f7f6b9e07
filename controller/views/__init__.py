"""What the operator sees: the status view, log lines, an operation's progress (``--wait``, operation.py), the network diagram, output helpers."""
