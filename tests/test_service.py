"""`tagwatch service --systemd`: a unit systemd accepts, running this tagwatch on this config."""

from __future__ import annotations

import getpass
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tagwatch.monitor.cli import cli
from tagwatch.monitor.service import find_executable, systemd_unit
from tagwatch.settings import load_config
from tests.conftest import base_config_dict, write_config_toml


def write_config(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    data = base_config_dict(folder)
    data["storage"] = {"path": "tagwatch.db"}
    data["collect"] = {"timeout_seconds": 45.0}
    return write_config_toml(folder / "config.toml", data)


def directives(unit: str) -> dict[str, str]:
    found = {}
    for line in unit.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            found[key] = value
    return found


def service(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--config", str(config), "service", *args])
    return result.exit_code, result.stdout, result.stderr


def test_unit_runs_this_tagwatch_on_this_config(tmp_path: Path) -> None:
    config = write_config(tmp_path / "event")
    (tmp_path / "event" / "tagwatch.env").write_text("TAGWATCH_WALL_TOKEN=x\n")
    code, unit, err = service(config, "--systemd")
    assert code == 0, err
    d = directives(unit)
    assert d["User"] == getpass.getuser()
    assert d["WorkingDirectory"] == str((tmp_path / "event").resolve())
    assert d["EnvironmentFile"] == str((tmp_path / "event" / "tagwatch.env").resolve())
    argv = shlex.split(d["ExecStart"])
    assert argv[:-3] == find_executable() and Path(argv[0]).is_absolute()
    assert argv[-3:] == ["--config", str(config.resolve()), "run"]
    assert d["Restart"] == "on-failure" and int(d["RestartSec"]) > 0
    assert d["RestartPreventExitStatus"] == "2"
    assert d["KillSignal"] == "SIGTERM"
    assert d["TimeoutStopSec"] == "75"  # collect.timeout_seconds (45) + margin
    assert d["StandardOutput"] == d["StandardError"] == "journal"
    assert d["WantedBy"] == "multi-user.target"
    assert err == ""


def test_user_and_env_file_flags(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    code, unit, err = service(
        config, "--systemd", "--user", "tagwatch", "--env-file", "/etc/tw.env"
    )
    assert code == 0
    d = directives(unit)
    assert d["User"] == "tagwatch" and d["EnvironmentFile"] == "/etc/tw.env"
    assert "Note: /etc/tw.env does not exist yet" in err and "chmod 600" in err


def test_without_a_format_says_which(tmp_path: Path) -> None:
    code, unit, err = service(write_config(tmp_path))
    assert code == 2
    assert "Say which service manager: tagwatch service --systemd." in err
    assert unit == ""


def test_paths_with_spaces_and_percent_signs_are_escaped(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path / "HRHN 100% live"))
    unit = systemd_unit(config, command=["/opt/my tools/tagwatch"])
    d = directives(unit)
    assert d["WorkingDirectory"].endswith("/HRHN 100%% live")
    assert d["ExecStart"].startswith('"/opt/my tools/tagwatch" --config "')
    assert "100%% live/config.toml" in d["ExecStart"]


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (apt-get install systemd); .ci/run installs it",
)
@pytest.mark.parametrize("folder", ["event", "HRHN 100% live"])
def test_unit_passes_systemd_analyze_verify(tmp_path: Path, folder: str) -> None:
    config = load_config(write_config(tmp_path / folder))
    unit_file = tmp_path / "tagwatch.service"
    unit_file.write_text(systemd_unit(config), encoding="utf-8")
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "tagwatch.service" not in result.stderr, result.stderr


def test_find_executable_is_this_python_s_tagwatch() -> None:
    command = find_executable()
    assert Path(command[0]).is_absolute()
    if len(command) == 1:
        assert Path(command[0]).name == "tagwatch"
    else:
        assert command == [str(Path(sys.executable).absolute()), "-m", "tagwatch.monitor.cli"]
