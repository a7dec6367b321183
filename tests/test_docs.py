from pathlib import Path

from click.testing import CliRunner

from monitor.cli import cli
from monitor.docs import config_reference

ROOT = Path(__file__).resolve().parent.parent


def test_readme_config_reference_is_current():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert config_reference() in readme, "run: python -m monitor.docs"


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


def test_readme_says_which_outputs_read_the_analysis_api():
    """What the README claims about the analysis API's consumers is what their code does."""
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "The digest reads one API, `reports/analysis.py`" in readme
    assert "impact report takes its sessions, themes, languages and engagement growth" in readme
    assert "counts its summary, days, platforms, hours, top posts and voices itself" in readme
    assert "the live wall keeps its own queries" in readme
    digest = (ROOT / "reports/digest.py").read_text(encoding="utf-8")
    assert "analysis.analyze_period(" in digest
    impact = (ROOT / "reports/impact.py").read_text(encoding="utf-8")
    for used in ("sessions", "themes", "languages", "engagement_growth"):
        assert f"analysis.{used}(" in impact
    assert "export_rows(" in impact
    assert not any(f"analysis.{f}(" in impact for f in ("summary", "per_platform", "top_voices"))
    wall = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "reports/wall").glob("*.py"))
    assert "reports.analysis" not in wall and "import analysis" not in wall
