from pathlib import Path

from click.testing import CliRunner

from tagwatch.monitor.cli import cli
from tagwatch.monitor.docs import config_reference

ROOT = Path(__file__).resolve().parent.parent


def test_readme_config_reference_is_current():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert config_reference() in readme, "run: python -m tagwatch.monitor.docs"


def test_every_command_is_documented_in_readme():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in cli.commands:
        assert f"tagwatch {name}" in readme, f"README.md does not mention `tagwatch {name}`"


def test_every_command_has_help():
    runner = CliRunner()
    for name in cli.commands:
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Usage:" in result.output


def test_readme_export_fields_are_the_export_fields():
    """The README's list of export fields is EXPORT_FIELDS, in order (a contract, issue #2)."""
    from tagwatch.reports.export import EXPORT_FIELDS

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "one record per post: `" + ", ".join(EXPORT_FIELDS) + "`" in readme
