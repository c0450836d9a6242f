import json

from headroom import MemoryStore, compress, count_tokens, retrieve
from headroom.markers import MARKER_KEY, expand_tables, is_json_marker
from headroom.samples import FATAL_CODE, log_entries, needle_logs
from tests.helpers import openai_turn, records


def crush(output: str, question: str = "What failed?", **options):
    store = MemoryStore()
    result = compress(openai_turn(output, question=question), store=store, **options)
    return result, result.messages[-1]["content"], store


def items_of(text: str):
    data = json.loads(text)
    return [i for i in data if not is_json_marker(i)], [i for i in data if is_json_marker(i)]


def test_needle_demo_saves_85_percent_and_keeps_the_fatal_entry_whole():
    original = needle_logs()
    result, out, store = crush(original, "What caused the outage? What's the error code?")
    assert result.compression_ratio >= 0.85
    kept, markers = items_of(out)
    fatal = log_entries()[67]
    assert fatal in kept
    assert len(markers) == 1
    key = result.retrieval_keys[0]
    assert key in markers[0][MARKER_KEY] and "headroom_retrieve" in markers[0][MARKER_KEY]
    assert retrieve(key, store=store).content == original
    assert result.transforms_applied == [f"router:smart_crusher:{result.compression_ratio:.2f}"]


def test_first_and_last_items_are_kept_in_order():
    entries = log_entries(200, fatal_at=150)
    _, out, _ = crush(json.dumps(entries))
    kept, _ = items_of(out)
    assert kept[:3] == entries[:3] and kept[-2:] == entries[-2:]
    positions = [entries.index(k) for k in kept]
    assert positions == sorted(positions)


def test_query_identifier_pulls_in_a_matching_item():
    entries = log_entries(300, fatal_at=-1)
    target = entries[123]["request_id"]
    _, out, _ = crush(json.dumps(entries), question=f"Why was {target} slow?")
    kept, _ = items_of(out)
    assert entries[123] in kept


def test_falsy_error_fields_are_not_trouble():
    data = [{"id": i, "error": None, "failed": 0, "msg": f"item {i} fine"} for i in range(120)]
    data[77] = {"id": 77, "error": "disk quota exceeded", "failed": 1, "msg": "item 77"}
    _, out, _ = crush(json.dumps(data))
    kept, _ = items_of(out)
    assert data[77] in kept
    assert len(kept) <= 15


def test_rare_category_and_numeric_outlier_are_kept():
    data = [{"id": i, "region": "us-east", "latency_ms": 40 + (i % 7)} for i in range(200)]
    data[50]["region"] = "ap-south"
    data[140]["latency_ms"] = 9000
    _, out, _ = crush(json.dumps(data))
    kept, _ = items_of(out)
    assert data[50] in kept and data[140] in kept


def test_near_duplicate_errors_collapse_to_one():
    data = [{"id": i, "msg": "ok"} for i in range(100)]
    for i in range(20, 60):
        data[i] = {"id": i, "msg": f"timeout after {i}ms talking to db-{i}"}
    _, out, _ = crush(json.dumps(data))
    kept, _ = items_of(out)
    assert sum("timeout" in k["msg"] for k in kept) == 1


def test_nested_array_keeps_its_envelope():
    envelope = {"query": "pool", "total": 500, "results": json.loads(records(80))}
    result, out, _ = crush(json.dumps(envelope, indent=2))
    data = json.loads(out)
    assert data["query"] == "pool" and data["total"] == 500
    assert is_json_marker(data["results"][-1])
    assert result.retrieval_keys


def test_number_literals_survive_exactly():
    data = [{"id": i, "price": "x", "ratio": 1.10, "big": 12345678901234567890} for i in range(60)]
    text = json.dumps(data, indent=2).replace("1.1,", "1.10,")
    _, out, _ = crush(text)
    assert '"ratio":1.10' in out and "12345678901234567890" in out


def test_small_record_arrays_become_a_lossless_table():
    data = [{"id": i, "name": f"user {i}", "email": f"user{i}@example.com"} for i in range(12)]
    result, out, _ = crush(json.dumps({"users": data, "page": 1}, indent=4))
    table = json.loads(out)["users"]
    assert table["columns"] == ["id", "name", "email"]
    assert table["rows"][3] == [3, "user 3", "user3@example.com"]
    assert table[MARKER_KEY].startswith("table of 12 items")
    assert expand_tables(json.loads(out)) == {"users": data, "page": 1}
    assert result.retrieval_keys == []  # nothing was dropped, so nothing to retrieve
    minified = json.dumps({"users": data, "page": 1}, separators=(",", ":"))
    assert result.tokens_after < count_tokens(minified)


def test_records_of_different_shapes_are_only_minified():
    data = [
        {"id": i, "name": f"user {i}"} if i % 2 else {"name": f"user {i}", "id": i}
        for i in range(12)
    ]
    result, out, _ = crush(json.dumps(data, indent=4), min_tokens_to_compress=10)
    assert json.loads(out) == data and out == json.dumps(data, separators=(",", ":"))
    assert result.retrieval_keys == []
    assert result.tokens_saved > 0


def test_already_minified_small_json_is_left_alone():
    text = json.dumps([{"id": i, "v": "x" * 40} for i in range(12)], separators=(",", ":"))
    result, out, _ = crush(text, min_tokens_to_compress=10)
    assert out == text and result.tokens_saved == 0


def test_malformed_json_passes_through():
    bad = "[" + ", ".join(f'{{"id": {i}, "msg": "unterminated' for i in range(200)) + "]"
    result, out, _ = crush(bad)
    assert out == bad and result.tokens_saved == 0


def test_bias_above_one_keeps_more():
    from headroom import CompressionHooks

    class KeepMore(CompressionHooks):
        def compute_biases(self, messages, ctx):
            return {3: 3.0}

    text = json.dumps(log_entries(300, fatal_at=-1), indent=2)
    plain = compress(openai_turn(text), store=MemoryStore())
    biased = compress(openai_turn(text), store=MemoryStore(), hooks=KeepMore())
    assert len(json.loads(biased.messages[-1]["content"])) > len(
        json.loads(plain.messages[-1]["content"])
    )
    assert FATAL_CODE not in plain.messages[-1]["content"]


def test_escaped_lone_surrogates_stay_escaped_so_the_request_can_be_sent():
    items = [{"id": i, "msg": f"ok {i}", "level": "INFO"} for i in range(100)]
    items[50] = {"id": 50, "msg": "bad \ud800 byte", "level": "ERROR"}
    text = json.dumps(items, indent=1)  # ASCII JSON carrying "\ud800" as an escape
    small = json.dumps(items[46:54], indent=1)
    for output, lossless in ((text, False), (small, True)):
        result, out, _ = crush(output, min_tokens_to_compress=10)
        assert out != output and (result.retrieval_keys == []) == lossless
        out.encode("utf-8")  # would raise on a raw lone surrogate
        assert "\\ud800" in out


def test_trouble_inside_names_and_keys_is_found():
    signals = {
        20: {"exception": "java.lang.NullPointerException"},
        40: {"detail": "ValueError: bad header"},
        60: {"error_code": "E42"},
        80: {"errorMessage": "disk quota"},
        100: {"reason": "OOMKilled"},
        120: {"detail": "Segmentation fault (core dumped)"},
        140: {"job": {"is_failed": True}},
    }
    items = [
        {"id": i, "status": "ok", "msg": f"step {i}", **signals.get(i, {})} for i in range(200)
    ]
    items[150]["msg"] = "moved to room 12, zoom call"  # contains "oom", but isn't trouble
    kept, _ = items_of(crush(json.dumps(items, indent=1))[1])
    kept_ids = {item["id"] for item in kept}
    assert set(signals) <= kept_ids
    assert 150 not in kept_ids


def test_every_item_naming_the_asked_identifier_is_kept_and_only_those():
    items = [{"id": i, "user": f"user_{i % 20}", "req": f"req-{i}"} for i in range(200)]
    kept, _ = items_of(crush(json.dumps(items, indent=1), "What did user_7 do?")[1])
    assert sum(item["user"] == "user_7" for item in kept) == 10  # all of them, not 5
    result, out, store = crush(json.dumps(items, indent=1), "Show req-4")
    kept, _ = items_of(out)
    assert [item["req"] for item in kept if item["req"].startswith("req-4")] == ["req-4"]
    fetched = retrieve(result.retrieval_keys[0], query="req-4", store=store)
    assert [item["req"] for item in json.loads(fetched.content)] == ["req-4"]


def test_identical_items_collapse_to_one():
    item = {"level": "INFO", "msg": "heartbeat", "service": "api"}
    result, out, store = crush(json.dumps([item] * 300, indent=1))
    kept, markers = items_of(out)
    assert kept == [item] and "299 of 300 items omitted" in markers[0][MARKER_KEY]
    assert retrieve(result.retrieval_keys[0], store=store).content == json.dumps(
        [item] * 300, indent=1
    )


def test_kubectl_pod_list_keeps_the_crashing_pod():
    from pathlib import Path

    text = (Path(__file__).parent / "fixtures" / "kubectl_pods.json").read_text()
    result, out, store = crush(text, "Which pod is crash looping?")
    pods = json.loads(out)["items"]
    crashing = [
        p for p in pods
        if not is_json_marker(p)
        and p["status"]["containerStatuses"][0]["state"].get("waiting", {}).get("reason")
        == "CrashLoopBackOff"
    ]  # fmt: skip
    assert (
        len(crashing) == 1 and crashing[0]["status"]["containerStatuses"][0]["restartCount"] == 17
    )
    assert result.compression_ratio > 0.5
    assert retrieve(result.retrieval_keys[0], store=store).content == text
