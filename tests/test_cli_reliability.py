"""Issue 12 on the CLI: files are read as bytes, deep JSON files, non-UTF-8 with --json."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from headroom.cli import main

RUN = [sys.executable, "-m", "headroom.cli"]


def test_crlf_file_round_trips_byte_exact(tmp_path):
    lines = [
        f"2024-01-01 12:00:{i % 60:02d} INFO worker {i} processed job {i * 7}" for i in range(300)
    ]
    raw = ("\r\n".join([*lines, "ERROR boom", "done"]) + "\r\n").encode()
    path = tmp_path / "build.log"
    path.write_bytes(raw)
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    out = subprocess.run([*RUN, "compress", str(path), "--json"], capture_output=True, env=env)
    assert out.returncode == 0, out.stderr.decode()
    payload = json.loads(out.stdout)
    assert payload["tokens_saved"] > 0 and "\r\n" in payload["content"]
    back = subprocess.run(
        [*RUN, "retrieve", payload["retrieval_keys"][0]], capture_output=True, env=env
    )
    assert back.returncode == 0 and back.stdout == raw


def test_deeply_nested_json_file_is_no_traceback(tmp_path, capsys):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert main(["compress", str(path), "--min-tokens", "0"]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "tokens" in captured.err


def test_json_output_refuses_bytes_that_are_not_utf8(tmp_path, capsys):
    path = tmp_path / "latin1.txt"
    path.write_bytes("café ".encode("latin-1") * 500)
    assert main(["compress", str(path), "--json"]) == 2
    captured = capsys.readouterr()
    assert "not UTF-8" in captured.err and captured.out == ""
