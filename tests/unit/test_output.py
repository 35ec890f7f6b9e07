"""Messages quote config text ("[awscli]", "zones[1]"): it must reach the operator verbatim."""
import pytest

from controller.views import output


@pytest.mark.parametrize("message", [
    "section [awscli] ignored: OpsWorks Stacks was retired",
    "zones[1].private_cidr overlaps zones[0].private_cidr",
    "[[stack_permissions]] [bold]not markup[/bold]",
])
def test_warnings_and_progress_print_brackets_verbatim(capsys, message):
    output.warn(message)
    output.progress(message)
    err = capsys.readouterr().err.replace("\n", " ")
    assert err.count(message) == 2
