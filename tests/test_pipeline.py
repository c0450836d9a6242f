"""The request lifecycle: stages, extensions, entry points, failures."""

from __future__ import annotations

import logging
import subprocess
import sys
from importlib.metadata import EntryPoint

import pytest

from headroom import compress
from headroom import pipeline as pl
from headroom.pipeline import PipelineEvent, PipelineStage, RequestLifecycle
from headroom.samples import build_log, needle_logs
from tests.helpers import openai_turn

INPUT_STAGES = [
    PipelineStage.INPUT_RECEIVED,
    PipelineStage.INPUT_CACHED,
    PipelineStage.INPUT_ROUTED,
    PipelineStage.INPUT_COMPRESSED,
    PipelineStage.INPUT_REMEMBERED,
]


class Recorder:
    def __init__(self) -> None:
        self.events: list[PipelineEvent] = []

    def on_pipeline_event(self, event: PipelineEvent) -> None:
        self.events.append(event)

    def stages(self) -> list[PipelineStage]:
        return [e.stage for e in self.events]


def test_stage_order_is_the_documented_one():
    assert [s.name for s in PipelineStage] == [
        "SETUP", "PRE_START", "POST_START", "INPUT_RECEIVED", "INPUT_CACHED", "INPUT_ROUTED",
        "INPUT_COMPRESSED", "INPUT_REMEMBERED", "PRE_SEND", "POST_SEND", "RESPONSE_RECEIVED",
    ]  # fmt: skip


def test_compress_emits_the_input_stages_in_order_with_their_details():
    rec = Recorder()
    messages = openai_turn(needle_logs(), question="What failed?")
    result = compress(messages, extensions=[rec])
    assert rec.stages() == [PipelineStage.SETUP, *INPUT_STAGES]
    by_stage = {e.stage: e for e in rec.events}
    assert len({e.request_id for e in rec.events[1:]}) == 1
    routes = by_stage[PipelineStage.INPUT_ROUTED].details["routes"]
    assert routes == [{"message_index": 3, "kind": "json", "compressor": "smart_crusher"}]
    assert by_stage[PipelineStage.INPUT_COMPRESSED].result is result
    assert (
        by_stage[PipelineStage.INPUT_REMEMBERED].details["retrieval_keys"] == result.retrieval_keys
    )
    # SETUP reaches an extension once, not on every request.
    compress(messages, extensions=[rec])
    assert rec.stages().count(PipelineStage.SETUP) == 1


def test_an_extension_may_rewrite_the_messages_when_they_arrive():
    class Redact:
        def on_pipeline_event(self, event):
            if event.stage is PipelineStage.INPUT_RECEIVED:
                return [
                    {**m, "content": "[redacted]"} if m["role"] == "system" else m
                    for m in event.messages
                ]
            return None

    messages = openai_turn(build_log())
    result = compress(messages, extensions=[Redact()])
    assert result.messages[0]["content"] == "[redacted]"
    assert messages[0]["content"] == "You are helpful."  # the caller's list is untouched


def test_a_failing_extension_is_logged_and_never_breaks_the_request(caplog):
    class Broken:
        def on_pipeline_event(self, event):
            raise RuntimeError("boom")

    rec = Recorder()
    with caplog.at_level(logging.ERROR, logger="headroom"):
        result = compress(openai_turn(needle_logs()), extensions=[Broken(), rec])
    assert result.tokens_saved > 0
    assert rec.stages()[-5:] == INPUT_STAGES
    assert "pipeline extension Broken failed" in caplog.text


def test_entry_point_extensions_are_discovered(monkeypatch):
    seen: list[PipelineStage] = []

    class Plugin:
        def on_pipeline_event(self, event):
            seen.append(event.stage)

    module = type(pytest)("hr_test_plugin")
    module.Plugin = Plugin
    monkeypatch.setitem(__import__("sys").modules, "hr_test_plugin", module)
    ep = EntryPoint(name="test", value="hr_test_plugin:Plugin", group=pl.ENTRY_POINT_GROUP)
    monkeypatch.setattr(
        pl, "entry_points", lambda group: [ep] if group == pl.ENTRY_POINT_GROUP else []
    )
    pl.reset_discovery()
    try:
        compress(openai_turn(needle_logs()))
    finally:
        pl.reset_discovery()
    assert seen[-5:] == INPUT_STAGES


def test_a_broken_entry_point_is_skipped(monkeypatch, caplog):
    ep = EntryPoint(name="bad", value="no_such_module_xyz:Thing", group=pl.ENTRY_POINT_GROUP)
    monkeypatch.setattr(pl, "entry_points", lambda group: [ep])
    pl.reset_discovery()
    try:
        with caplog.at_level(logging.ERROR, logger="headroom"):
            assert pl.discovered_extensions() == []
            assert compress(openai_turn(needle_logs())).tokens_saved > 0
    finally:
        pl.reset_discovery()
    assert "could not load pipeline extension bad" in caplog.text


def test_request_lifecycle_emits_send_stages_under_one_id():
    rec = Recorder()
    life = RequestLifecycle([rec], "test", model="gpt-4o")
    compress(openai_turn(needle_logs()), extensions=life.extensions, request_id=life.request_id)
    life.pre_send([{"role": "user", "content": "x"}])
    life.post_send()
    life.response_received({"content": "done"})
    assert rec.stages()[-8:] == [
        *INPUT_STAGES, PipelineStage.PRE_SEND, PipelineStage.POST_SEND,
        PipelineStage.RESPONSE_RECEIVED,
    ]  # fmt: skip
    assert {e.request_id for e in rec.events[-8:]} == {life.request_id}
    assert rec.events[-1].response == {"content": "done"}


def test_no_extensions_means_no_request_id_work():
    life = RequestLifecycle(None, "test")
    assert not life.pipe and life.request_id == ""
    life.pre_send([])  # nothing listening: a no-op


def test_a_real_installed_entry_point_is_found_without_patching(tmp_path, monkeypatch):
    """A distribution on sys.path that declares the group (a dist-info folder, as pip
    writes it) is loaded through importlib.metadata; the cheap scan lets it through."""
    (tmp_path / "hr_real_plugin.py").write_text(
        "SEEN = []\n"
        "class Plugin:\n"
        "    def on_pipeline_event(self, event):\n"
        "        SEEN.append(event.stage)\n"
    )
    info = tmp_path / "hr_real_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hr-real-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{pl.ENTRY_POINT_GROUP}]\nreal = hr_real_plugin:Plugin\n"
    )
    assert not pl._may_declare(pl.ENTRY_POINT_GROUP + ".other")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert pl._may_declare(pl.ENTRY_POINT_GROUP)
    pl.reset_discovery()
    try:
        found = pl.discovered_extensions()
        assert [type(e).__name__ for e in found] == ["Plugin"]
        compress(openai_turn(needle_logs()))
        assert __import__("hr_real_plugin").SEEN[-5:] == INPUT_STAGES
    finally:
        pl.reset_discovery()


def test_a_zip_on_the_path_counts_as_a_maybe(tmp_path, monkeypatch):
    archive = tmp_path / "bundle.zip"
    archive.write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip archive
    monkeypatch.syspath_prepend(str(archive))
    assert pl._may_declare("any.group")


def test_the_first_compress_does_not_import_importlib_metadata():
    """importlib.metadata costs ~30 ms of cold start; with no extension installed the
    first compress() never loads it."""
    code = (
        "import sys, headroom\n"
        "headroom.compress([{'role': 'tool', 'tool_call_id': '1', 'content': "
        "'\\n'.join(f'line {i} ERROR x' for i in range(300))}])\n"
        "print('importlib.metadata' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
