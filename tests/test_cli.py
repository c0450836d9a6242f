import json
import subprocess
import sys

from headroom.cli import main
from headroom.samples import FATAL_CODE, demo_transcript, needle_logs


def test_demo_reports_every_check(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "buried FATAL entry (PG-5523) survived inline: yes" in out
    assert out.count("returns the original byte-exact: yes") == 2
    assert "router:smart_crusher" in out


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
