"""The lab deploys with Chalice without downloading anything: runtime deps are vendored."""
from lab.aws.deployer import VENDORED_PACKAGES, prepare_project


def test_lab_project_vendors_runtime_dependencies_and_needs_no_download(tmp_path):
    project = prepare_project(tmp_path / "p")
    requirements = [line for line in (project / "requirements.txt").read_text().splitlines()
                    if line.strip() and not line.startswith("#")]
    assert requirements == []  # nothing for `pip download`
    vendored = {p.name.removesuffix(".py") for p in (project / "vendor").iterdir()}
    assert set(VENDORED_PACKAGES) <= vendored
    assert (project / "vendor" / "aws_lambda_powertools" / "__init__.py").exists()
    assert (project / "app.py").exists() and (project / "chalicelib" / "topology.py").exists()
