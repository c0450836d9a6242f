"""``headroom mcp install/uninstall``: Claude Code via a recording fake ``claude``, and
Claude Desktop's JSON config merged in place with a backup."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from headroom.mcp_server import install
from headroom.mcp_server.cli import main


@pytest.fixture
def fake_claude(tmp_path: Path) -> tuple[Path, Path]:
    log = tmp_path / "claude-calls.jsonl"
    exe = tmp_path / "bin" / "claude"
    exe.parent.mkdir()
    exe.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"open({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "sys.exit(1 if sys.argv[1:3] == ['mcp', 'add'] and 'FAIL' in sys.argv else 0)\n"
    )
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe, log


def calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_server_command_is_absolute():
    cmd = install.server_command()
    assert os.path.isabs(cmd[0])
    assert cmd[1:] in (["mcp", "serve"], ["-m", "headroom.mcp_server"])
    if cmd[1:] == ["mcp", "serve"]:
        assert Path(cmd[0]).name.startswith("headroom")


def test_install_with_claude_code(fake_claude, monkeypatch):
    exe, log = fake_claude
    monkeypatch.setenv("PATH", f"{exe.parent}{os.pathsep}{os.environ['PATH']}")
    assert main(["install"]) == 0
    remove, add = calls(log)
    assert remove == ["mcp", "remove", "headroom", "-s", "user"]
    assert add[:6] == ["mcp", "add", "headroom", "-s", "user", "--"]
    assert add[6:] == install.server_command()

    assert main(["uninstall"]) == 0
    assert calls(log)[-1] == ["mcp", "remove", "headroom", "-s", "user"]


def test_install_reports_a_claude_failure(fake_claude, capsys):
    exe, _ = fake_claude
    assert main(["install", "--claude", str(exe), "--name", "FAIL"]) == 1
    assert "failed" in capsys.readouterr().err


def test_install_without_claude_code_explains(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["install"]) == 1
    err = capsys.readouterr().err
    assert "claude" in err and "--desktop" in err and "--print" in err


def test_print_shows_the_snippet(capsys):
    assert main(["install", "--print"]) == 0
    data = json.loads(capsys.readouterr().out)
    entry = data["mcpServers"]["headroom"]
    assert [entry["command"], *entry["args"]] == install.server_command()


def test_desktop_merge_keeps_other_entries_and_backs_up(tmp_path):
    config = tmp_path / "Claude" / "claude_desktop_config.json"
    config.parent.mkdir()
    before = {
        "globalShortcut": "Ctrl+Space",
        "mcpServers": {"files": {"command": "npx", "args": ["fs"]}},
    }
    config.write_text(json.dumps(before))

    assert main(["install", "--desktop", "--config", str(config)]) == 0
    after = json.loads(config.read_text())
    assert after["globalShortcut"] == "Ctrl+Space"
    assert after["mcpServers"]["files"] == before["mcpServers"]["files"]
    assert after["mcpServers"]["headroom"] == install.entry()
    backups = list(config.parent.glob("claude_desktop_config.json.bak-*"))
    assert len(backups) == 1 and json.loads(backups[0].read_text()) == before

    assert main(["uninstall", "--config", str(config)]) == 0
    assert json.loads(config.read_text()) == before
    # Removing again is a no-op, not an error.
    assert main(["uninstall", "--config", str(config)]) == 0


def test_desktop_creates_a_missing_config(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("APPDATA", str(tmp_path / "appdata"))
    path = install.desktop_config_path()
    assert str(path).startswith(str(tmp_path)) and path.name == "claude_desktop_config.json"
    assert main(["install", "--desktop"]) == 0
    assert json.loads(path.read_text()) == {"mcpServers": {"headroom": install.entry()}}


def test_desktop_refuses_to_touch_invalid_json(tmp_path, capsys):
    config = tmp_path / "claude_desktop_config.json"
    config.write_text("{not json")
    assert main(["install", "--config", str(config)]) == 1
    assert config.read_text() == "{not json"
    assert "not valid JSON" in capsys.readouterr().err


def test_no_subcommand_prints_help(capsys):
    assert main([]) == 2
    assert "serve" in capsys.readouterr().err
