import json

import pytest

from headroom import MemoryStore, answer_tool_call, compress, retrieve, retrieve_tool
from headroom.samples import FATAL_CODE, build_log, needle_logs
from headroom.store import key_for
from tests.helpers import openai_turn


def test_tool_definitions_in_both_formats():
    openai = retrieve_tool("openai")
    assert openai["type"] == "function" and openai["function"]["name"] == "headroom_retrieve"
    assert openai["function"]["parameters"]["required"] == ["key"]
    anthropic = retrieve_tool("anthropic")
    assert (
        anthropic["name"] == "headroom_retrieve"
        and "key" in anthropic["input_schema"]["properties"]
    )
    with pytest.raises(ValueError):
        retrieve_tool("gemini")


def test_query_returns_only_matching_items():
    store = MemoryStore()
    original = needle_logs()
    result = compress(openai_turn(original), store=store)
    got = retrieve(result.retrieval_keys[0], query=FATAL_CODE, store=store)
    items = json.loads(got.content)
    assert got.found and got.matched == 1 and got.total == 100
    assert items[0]["error_code"] == FATAL_CODE


def test_query_on_text_returns_verbatim_lines():
    store = MemoryStore()
    log = build_log()
    store.put(key_for(log), log)
    got = retrieve(key_for(log), query="error undeclared", store=store)
    lines = got.content.splitlines()
    assert len(lines) == 4 and all(line in log.splitlines() for line in lines)
    assert all("undeclared identifier" in line for line in lines)


def test_missing_key_is_a_message_not_an_exception():
    got = retrieve("hr_ffffffffffffffff", store=MemoryStore())
    assert not got.found and "expired" in got.message
    answer = answer_tool_call({"key": "hr_ffffffffffffffff"}, store=MemoryStore())
    assert answer.is_error and "hr_ffffffffffffffff" in answer.content


@pytest.mark.parametrize(
    "arguments",
    ["not json", "[]", {"key": 5}, {"query": "x"}, {"key": "hr_1", "query": 3}, {}, ""],
)
def test_bad_tool_arguments_are_reported(arguments):
    answer = answer_tool_call(arguments, store=MemoryStore())
    assert answer.is_error and answer.content.startswith("headroom_retrieve")


def test_answer_from_json_string_arguments():
    store = MemoryStore()
    store.put("hr_0123456789abcdef", "the original")
    answer = answer_tool_call(json.dumps({"key": "hr_0123456789abcdef"}), store=store)
    assert answer == type(answer)("the original", False)


def test_query_does_not_drag_in_every_loosely_matching_line():
    store = MemoryStore()
    text = "\n".join(f"event number {i}: status ok" for i in range(300))
    store.put(key_for(text), text)
    got = retrieve(key_for(text), query="event number 45", store=store)
    assert got.content == "event number 45: status ok"
    partial = retrieve(key_for(text), query="event 45 missing-word", store=store)
    assert partial.matched == 1  # no line has every word: the strongest partial match wins


def test_a_broken_store_is_reported_not_raised(tmp_path):
    class Broken(MemoryStore):
        def get(self, key):
            raise OSError("disk on fire")

    result = retrieve("hr_0123456789abcdef", store=Broken())
    assert not result.found and "unavailable" in result.message and "disk on fire" in result.message
    answer = answer_tool_call({"key": "hr_0123456789abcdef"}, store=Broken())
    assert answer.is_error and "unavailable" in answer.content
    corrupt = tmp_path / "corrupt.sqlite3"
    corrupt.write_bytes(b"this is not a database" * 100)
    assert not retrieve("hr_0123456789abcdef", store=f"sqlite://{corrupt}").found


def test_a_query_searches_the_members_of_large_objects():
    from pathlib import Path

    from headroom.retrieval import filter_original

    text = (Path(__file__).parent / "fixtures" / "json" / "npm_view_express.json").read_text()
    data = json.loads(text)
    content, matched, total, unit = filter_original(text, "4.17.1")
    # The version list's item and the time map's member; the map counts member by member.
    assert json.loads(content) == ["4.17.1", {"4.17.1": data["time"]["4.17.1"]}]
    assert unit == "items" and matched == 2
    assert total >= len(data["versions"]) + len(data["time"])


def test_small_members_of_a_large_object_are_not_split():
    from headroom.retrieval import filter_original

    doc = {f"/path{i}": {"get": {"params": ["a", "b"], "summary": f"route {i}"}} for i in range(20)}
    content, matched, _, _ = filter_original(json.dumps(doc), "path7")
    assert json.loads(content) == [{"/path7": doc["/path7"]}] and matched == 1
