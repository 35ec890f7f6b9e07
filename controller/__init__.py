"""The operator console: the ``hanat`` command."""
