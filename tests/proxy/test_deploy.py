"""The example deployment (no docker daemon here): the compose file parses, and every
proxy's command and health check is one the CLI and the app accept."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from headroom.proxy.server import add_arguments, config_from

yaml = pytest.importorskip("yaml")

DEPLOY = Path(__file__).resolve().parents[2] / "examples" / "deploy"


def test_compose_runs_two_proxies_on_one_redis_with_flags_the_cli_accepts() -> None:
    spec = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = spec["services"]
    proxies = {name: s for name, s in services.items() if name.startswith("proxy")}
    assert len(proxies) == 2 and "redis" in services
    ports = set()
    for service in proxies.values():
        command = [str(x) for x in service["command"]]
        assert command[:2] == ["headroom", "proxy"]
        parser = argparse.ArgumentParser(exit_on_error=False)
        add_arguments(parser)
        args = parser.parse_args(command[2:])  # unknown flags or bad values raise
        config = config_from(args)
        assert config.workers == 2 and config.host == "0.0.0.0"
        redis_url = service["environment"]["HEADROOM_REDIS_URL"]
        assert redis_url.startswith("redis://redis:")  # the compose service's name
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        health = " ".join(service["healthcheck"]["test"])
        assert f":{config.port}/readyz" in health
        ports.add(service["ports"][0].split(":")[0])
        assert service["build"]["dockerfile"] == "examples/deploy/Dockerfile"
    assert len(ports) == 2
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert 'pip install --no-cache-dir ".[proxy]"' in dockerfile


def test_redis_environment_variable_is_the_default_for_redis(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HEADROOM_REDIS_URL", "redis://example-redis:6379/0")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert config_from(parser.parse_args([])).redis_url == "redis://example-redis:6379/0"
    monkeypatch.delenv("HEADROOM_REDIS_URL")
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert config_from(parser.parse_args([])).redis_url is None
