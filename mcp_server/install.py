"""Register the server with Claude Code (``claude mcp add``) or Claude Desktop (its JSON config)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


class InstallError(Exception):
    """Registration could not be done; the message says why and what to do."""


def server_command() -> list[str]:
    """The absolute command that starts the server: ``<headroom> mcp serve``.

    Prefers the ``headroom`` script installed next to this Python (the same environment),
    then one on PATH; falls back to ``<python> -m headroom.mcp_server``.
    """
    bindir = Path(sys.executable).parent
    for name in ("headroom", "headroom.exe"):
        candidate = bindir / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return [str(candidate.absolute()), "mcp", "serve"]
    found = shutil.which("headroom")
    if found:
        return [str(Path(found).absolute()), "mcp", "serve"]
    return [str(Path(sys.executable).absolute()), "-m", "headroom.mcp_server"]


def entry() -> dict[str, Any]:
    command = server_command()
    return {"command": command[0], "args": command[1:]}


def snippet(name: str = "headroom") -> str:
    """The ``mcpServers`` JSON to paste into a client's configuration."""
    return json.dumps({"mcpServers": {name: entry()}}, indent=2)


# --------------------------------------------------------------------------- Claude Code


def _claude(explicit: str | None) -> str:
    exe = explicit or shutil.which("claude")
    if not exe:
        raise InstallError(
            "Claude Code's `claude` command was not found on PATH. Install Claude Code, pass "
            "--claude PATH, use --desktop for Claude Desktop, or --print for the JSON entry."
        )
    return exe


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InstallError(f"could not run {cmd[0]}: {exc}") from exc


def install_claude_code(
    name: str = "headroom", scope: str = "user", claude: str | None = None
) -> int:
    exe = _claude(claude)
    # Replace an earlier registration so re-running install picks up a moved executable.
    _run([exe, "mcp", "remove", name, "-s", scope])
    cmd = [exe, "mcp", "add", name, "-s", scope, "--", *server_command()]
    done = _run(cmd)
    if done.returncode != 0:
        raise InstallError(f"`{' '.join(cmd)}` failed: {(done.stderr or done.stdout).strip()}")
    print(f"Registered the {name!r} MCP server with Claude Code ({scope} scope):", file=sys.stderr)
    print("  " + " ".join(cmd), file=sys.stderr)
    return 0


def uninstall_claude_code(
    name: str = "headroom", scope: str = "user", claude: str | None = None
) -> int:
    exe = _claude(claude)
    done = _run([exe, "mcp", "remove", name, "-s", scope])
    if done.returncode != 0:
        raise InstallError(
            f"`claude mcp remove {name} -s {scope}` failed: {(done.stderr or done.stdout).strip()}"
        )
    print(f"Removed the {name!r} MCP server from Claude Code ({scope} scope).", file=sys.stderr)
    return 0


# --------------------------------------------------------------------------- Claude Desktop


def desktop_config_path() -> Path:
    """Where Claude Desktop keeps ``claude_desktop_config.json`` on this platform."""
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Application Support" / "Claude" / "claude_desktop_config.json"
    if os.name == "nt":
        base = os.environ.get("APPDATA") or str(home / "AppData" / "Roaming")
        return Path(base) / "Claude" / "claude_desktop_config.json"
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else home / ".config") / "Claude" / "claude_desktop_config.json"


def _load(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InstallError(f"cannot read {path}: {exc}") from exc
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InstallError(
            f"{path} is not valid JSON ({exc}); fix it by hand, nothing was changed"
        ) from exc
    if not isinstance(data, dict):
        raise InstallError(f"{path} does not hold a JSON object; nothing was changed")
    servers = data.get("mcpServers")
    if servers is not None and not isinstance(servers, dict):
        raise InstallError(f"'mcpServers' in {path} is not an object; nothing was changed")
    return data


def _backup(path: Path) -> Path | None:
    if not path.exists():
        return None
    backup = path.with_name(f"{path.name}.bak-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    shutil.copy2(path, backup)
    return backup


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def install_desktop(name: str = "headroom", config: str | os.PathLike[str] | None = None) -> int:
    path = Path(config) if config is not None else desktop_config_path()
    data = _load(path)
    servers = data.setdefault("mcpServers", {})
    servers[name] = entry()
    backup = _backup(path)
    _write(path, data)
    print(f"Added the {name!r} MCP server to {path}.", file=sys.stderr)
    if backup:
        print(f"Previous configuration saved as {backup}.", file=sys.stderr)
    print("Restart Claude Desktop to load it.", file=sys.stderr)
    return 0


def uninstall_desktop(name: str = "headroom", config: str | os.PathLike[str] | None = None) -> int:
    path = Path(config) if config is not None else desktop_config_path()
    data = _load(path)
    servers = data.get("mcpServers") or {}
    if name not in servers:
        print(f"{path} has no {name!r} MCP server; nothing to remove.", file=sys.stderr)
        return 0
    del servers[name]
    backup = _backup(path)
    _write(path, data)
    print(f"Removed the {name!r} MCP server from {path} (backup: {backup}).", file=sys.stderr)
    return 0
