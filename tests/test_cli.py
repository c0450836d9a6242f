import json
import os
import subprocess
import sys

from headroom.cli import main
from headroom.samples import FATAL_CODE, demo_transcript, needle_logs


def test_demo_reports_every_check(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "buried FATAL entry (PG-5523) survived inline: yes" in out
    assert out.count("returns the original byte-exact: yes") == 3
    assert "router:smart_crusher" in out
    # The cold first call (tokenizer load) and a warm repeat are reported apart.
    assert "time: first call " in out and "the same turn again " in out


def test_compress_raw_file_json_then_retrieve(tmp_path, capsys):
    path = tmp_path / "logs.json"
    path.write_text(needle_logs())
    assert main(["compress", str(path), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert FATAL_CODE in payload["content"] and payload["tokens_saved"] > 0
    key = payload["retrieval_keys"][0]
    assert main(["retrieve", key]) == 0
    assert capsys.readouterr().out == needle_logs()
    assert main(["retrieve", key, "--query", FATAL_CODE]) == 0
    assert json.loads(capsys.readouterr().out)[0]["error_code"] == FATAL_CODE


def test_compress_messages_file(tmp_path, capsys):
    path = tmp_path / "messages.json"
    path.write_text(json.dumps({"messages": demo_transcript()}))
    assert main(["compress", str(path)]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)) == len(demo_transcript())
    assert "tokens" in captured.err


def test_retrieve_missing_key_exits_nonzero(capsys):
    assert main(["retrieve", "hr_0000000000000000"]) == 1
    assert "expired" in capsys.readouterr().err


def test_import_is_light():
    code = "import sys, headroom; print(sorted(m for m in ('tiktoken', 'sqlite3', 'mcp', 'langchain_core', 'agno') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out.replace("'", '"')) == ["sqlite3"]


def test_missing_file_is_a_one_line_error(tmp_path, capsys):
    assert main(["compress", str(tmp_path / "nope.json")]) == 2
    err = capsys.readouterr().err
    assert "cannot read" in err and "Traceback" not in err


def test_odd_bytes_round_trip_through_the_cli_under_a_strict_utf8_locale(tmp_path):
    """Non-UTF-8 bytes and escaped lone surrogates: compress prints, retrieve is byte-exact."""
    lines = [f'{{"id": {i}, "msg": "ok {i}"}}' for i in range(300)]
    lines[7] = '{"id": 7, "msg": "latin-1 \xe9 and \\ud800 escaped"}'
    raw = ("[\n" + ",\n".join(lines) + "\n]\n").encode("latin-1")
    path = tmp_path / "odd.json"
    path.write_bytes(raw)
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "LC_ALL": "C.UTF-8"}
    run = [sys.executable, "-m", "headroom.cli"]
    out = subprocess.run([*run, "compress", str(path)], capture_output=True, env=env)
    assert out.returncode == 0, out.stderr.decode()
    key = out.stderr.decode().split("headroom retrieve ")[1].split()[0]
    back = subprocess.run([*run, "retrieve", key], capture_output=True, env=env)
    assert back.returncode == 0 and back.stdout == raw
    # JSON output cannot carry those bytes: --json refuses clearly (issue 12).
    refused = subprocess.run([*run, "compress", str(path), "--json"], capture_output=True, env=env)
    assert refused.returncode == 2 and b"not UTF-8" in refused.stderr and not refused.stdout
