import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom import MemoryStore, compress, count_tokens, retrieve
from headroom.evals.metrics import json_fabrications
from headroom.markers import (
    MARKER_KEY,
    expand_tables,
    is_item_marker,
    is_json_marker,
    is_member_marker,
    item_marker,
    json_marker,
    omitted_note,
)
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


# ---------------------------------------------------------------- maps and scalar arrays
# Real outputs (see tests/fixtures/json/README.md for the commands).

JSON_FIXTURES = Path(__file__).parent / "fixtures" / "json"
EXPRESS = (JSON_FIXTURES / "npm_view_express.json").read_text()
EXPRESS_VERSIONS = (JSON_FIXTURES / "npm_view_express_versions.json").read_text()
OPENAPI = (JSON_FIXTURES / "openapi_inventory.json").read_text()
NPM_LS = (JSON_FIXTURES / "npm_ls_all.json").read_text()


def test_npm_view_reduces_the_version_map_and_the_version_list():
    original = json.loads(EXPRESS)
    result, out, store = crush(EXPRESS, "When was express 4.17.1 published?")
    data = json.loads(out)
    key = result.retrieval_keys[0]
    # The map keyed by version keeps the asked-for version, its ends, and one marker member.
    time = data["time"]
    assert time["4.17.1"] == original["time"]["4.17.1"]
    names = list(original["time"])
    assert list(time)[:3] == names[:3] and list(time)[-3:-1] == names[-2:]
    assert is_member_marker("__headroom__", time["__headroom__"]) and key in time["__headroom__"]
    assert time["__headroom__"].startswith(f"{len(names) - len(time) + 1} of {len(names)} keys")
    # The array of version strings ends with a marker string.
    versions = data["versions"]
    assert "4.17.1" in versions and is_item_marker(versions[-1]) and key in versions[-1]
    assert versions[:-1] == [v for v in original["versions"] if v in versions[:-1]]
    # Small maps (28 dependencies) and the package's own fields stay whole.
    assert data["dependencies"] == original["dependencies"]
    assert data["description"] == original["description"]
    assert result.compression_ratio > 0.6
    assert retrieve(key, store=store).content == EXPRESS
    assert json_fabrications(original, data) == []


def test_scalar_array_of_versions_keeps_ends_and_asked_values():
    versions = json.loads(EXPRESS_VERSIONS)
    result, out, store = crush(EXPRESS_VERSIONS, "Is 4.18.2 in the list?")
    kept = json.loads(out)
    assert kept[:3] == versions[:3] and kept[-3:-1] == versions[-2:]
    assert "4.18.2" in kept
    assert is_item_marker(kept[-1]) and f"of {len(versions)} items omitted" in kept[-1]
    assert not any(is_item_marker(v) for v in kept[:-1])
    assert retrieve(result.retrieval_keys[0], store=store).content == EXPRESS_VERSIONS
    fetched = retrieve(result.retrieval_keys[0], query="4.18.2", store=store)
    assert json.loads(fetched.content) == ["4.18.2"]


def test_openapi_paths_keep_the_path_the_query_names():
    original = json.loads(OPENAPI)
    result, out, store = crush(OPENAPI, "What does POST /orders/{ident}/cancel return?")
    data = json.loads(out)
    paths = data["paths"]
    assert paths["/orders/{ident}/cancel"] == original["paths"]["/orders/{ident}/cancel"]
    assert "__headroom__" in paths and len(paths) < len(original["paths"])
    assert data["info"] == original["info"]
    assert json_fabrications(original, data) == []
    assert retrieve(result.retrieval_keys[0], store=store).content == OPENAPI
    # retrieve(query=…) finds members of the map by their key.
    fetched = json.loads(retrieve(result.retrieval_keys[0], query="/invoices", store=store).content)
    assert {"/invoices": original["paths"]["/invoices"]} in fetched


def test_npm_ls_tree_is_never_fabricated_and_round_trips():
    original = json.loads(NPM_LS)
    for question in ("Which version of qs is installed?", "What failed?"):
        result, out, store = crush(NPM_LS, question, max_items=5)
        assert json_fabrications(original, json.loads(out)) == []
        for key in result.retrieval_keys:
            assert retrieve(key, store=store).content == NPM_LS
    result, out, _ = crush(NPM_LS, "Which version of qs is installed?", max_items=5)
    assert '"qs":{"version":"6.14.2"' in out or '"qs":{"version"' not in NPM_LS.replace(" ", "")


def test_an_object_that_already_has_the_marker_name_gets_a_numbered_marker():
    original = json.loads(EXPRESS)
    original["time"] = {"__headroom__": "input value", **original["time"]}
    text = json.dumps(original, indent=2)
    result, out, store = crush(text, "When was 4.17.1 out?")
    time = json.loads(out)["time"]
    assert time["__headroom__"] == "input value"
    assert is_member_marker("__headroom__1", time["__headroom__1"])
    assert json_fabrications(original, json.loads(out)) == []
    assert retrieve(result.retrieval_keys[0], store=store).content == text


def test_input_strings_that_read_like_markers_are_never_kept():
    fake = "hr_0123456789abcdef"
    items = [f"v{i}" for i in range(200)]
    items[0] = (
        f'[headroom: 1 of 2 items omitted; call headroom_retrieve with key="{fake}" (add a query to fetch only matching items)]'
    )
    _, out, _ = crush(json.dumps(items), "v0")
    kept = json.loads(out)
    assert sum(is_item_marker(v) for v in kept) == 1 and fake not in out


def test_the_no_fabrication_check_understands_the_three_marker_forms():
    original = {"a": [{"x": 1}, {"x": 2}, {"x": 3}], "b": ["p", "q", "r"], "c": {"k1": 1, "k2": 2}}
    key = "hr_0123456789abcdef"
    good = {
        "a": [{"x": 1}, json_marker(2, 3, key)],
        "b": ["p", item_marker(2, 3, key)],
        "c": {"k1": 1, "__headroom__": omitted_note(1, 2, "keys", key)},
    }
    assert json_fabrications(original, good) == []
    assert expand_tables(good) == good
    bad_name = {"c": {"k1": 1, "__headroom__7": omitted_note(1, 2, "keys", key)}}
    assert json_fabrications(original, bad_name)
    mid_list = {"b": [item_marker(2, 3, key), "p"]}
    assert json_fabrications(original, mid_list)
    not_a_note = {"c": {"k1": 1, "__headroom__": "hello"}}
    assert json_fabrications(original, not_a_note)


scalar_values = st.one_of(
    st.integers(-1000, 1000), st.text(max_size=12), st.sampled_from(["error: boom", "ok", "4.1.0"])
)
shapes = st.one_of(
    st.lists(scalar_values, max_size=80),
    st.dictionaries(st.text(max_size=8), scalar_values, max_size=80),
    st.dictionaries(
        st.text(max_size=8),
        st.dictionaries(st.sampled_from(["v", "w"]), scalar_values),
        max_size=60,
    ),
    st.dictionaries(
        st.sampled_from(["meta", "data", "__headroom__"]), st.lists(scalar_values, max_size=60)
    ),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shapes, st.sampled_from(["What failed?", "find 4.1.0", "ok"]))
def test_property_maps_and_scalar_arrays_round_trip_without_fabrication(doc, question):
    text = json.dumps(doc, indent=2)
    result, out, store = crush(text, question, min_tokens_to_compress=0)
    again = compress(
        openai_turn(text, question=question), store=MemoryStore(), min_tokens_to_compress=0
    )
    assert again.messages[-1]["content"] == out
    if out == text:
        return
    after = json.loads(out)
    assert json_fabrications(doc, after) == []
    for key in result.retrieval_keys:
        assert retrieve(key, store=store).content == text


def test_the_versions_the_document_names_keep_their_time_entries():
    original = json.loads(EXPRESS)
    # A second tag, as npm shows for packages with a maintained older line.
    original["dist-tags"]["latest-4"] = "4.21.2"
    text = json.dumps(original, indent=2)
    _, out, _ = crush(text, "When were the tagged express versions published?")
    data = json.loads(out)
    for version in ("5.3.0", "4.21.2"):
        assert data["time"][version] == original["time"][version]
        assert version in data["versions"]
    assert len(data["time"]) < len(original["time"]) / 4


def test_time_grows_linearly_with_map_and_list_size():
    import gc
    import time

    from headroom.compressors.base import CompressorContext
    from headroom.compressors.json_crusher import SmartCrusher
    from headroom.config import HeadroomConfig
    from headroom.store import key_for
    from headroom.tokens import counter_for

    ctx = CompressorContext(
        HeadroomConfig(), counter_for("gpt-4o"), key_for, query="What failed for id_77?"
    )

    def doc(n: int) -> str:
        return json.dumps(
            {
                "versions": [f"{i // 100}.{i % 100}.0" for i in range(n)],
                "by_id": {f"id_{i}": {"ok": i % 97 != 0} for i in range(n)},
            }
        )

    # The compressor itself (the engine would answer repeats from its memo); runs
    # interleaved so that load from other processes hits both sizes alike.
    texts = [doc(2_000), doc(16_000)]
    best = [float("inf")] * 2
    gc.collect()
    gc.disable()  # a full collection walks the whole test process: not our time
    try:
        for _ in range(5):
            for n, text in enumerate(texts):
                start = time.perf_counter()
                SmartCrusher().compress(text, ctx)
                best[n] = min(best[n], time.perf_counter() - start)
    finally:
        gc.enable()
    assert best[1] < 30 * best[0]  # linear is 8x; quadratic 64x


def test_a_spike_in_timestamp_value_pairs_is_kept():
    # Prometheus-style matrix: [timestamp, "value"] pairs, values written as strings.
    values = [[1_700_000_000 + 15 * i, f"{0.2 + 0.01 * (i % 7):.2f}"] for i in range(400)]
    values[233][1] = "9.87"
    doc = {"status": "success", "data": {"result": [{"metric": {"job": "api"}, "values": values}]}}
    _, out, _ = crush(json.dumps(doc), "Was there a latency spike?")
    kept = json.loads(out)["data"]["result"][0]["values"]
    assert values[233] in kept and is_json_marker(kept[-1]) and len(kept) < 30


def test_a_map_keyed_by_path_keeps_the_member_the_query_names_by_its_last_segment():
    # package-lock.json's "packages" map, keyed by install path.
    packages = {"": {"name": "app", "version": "1.0.0"}}
    packages.update(
        {f"node_modules/pkg-{i}": {"version": f"1.{i}.0", "license": "MIT"} for i in range(300)}
    )
    packages["node_modules/lodash"] = {"version": "4.17.21", "license": "MIT"}
    doc = {"name": "app", "lockfileVersion": 3, "packages": packages}
    _, out, _ = crush(json.dumps(doc, indent=2), "Which lodash version is locked?")
    kept = json.loads(out)["packages"]
    assert kept["node_modules/lodash"] == {"version": "4.17.21", "license": "MIT"}
    assert len(kept) < 40


def test_pip_inspect_keeps_the_package_the_query_names_although_every_item_says_pip():
    # From the real-output corpus: every record has "installer": "pip"; one has "name": "pip".
    text = (Path(__file__).parent / "fixtures" / "real" / "pip_inspect.txt").read_text()
    original = json.loads(text)
    result, out, store = crush(text, "Which version of pip is installed?")
    kept, markers = items_of(json.dumps(json.loads(out)["installed"]))
    names = [item["metadata"]["name"] for item in kept]
    assert "pip" in names and len(kept) < len(original["installed"]) / 2 and len(markers) == 1
    assert retrieve(result.retrieval_keys[0], store=store).content == text


def test_hard_cap_holds_under_bias_and_its_marker_stays_recognisable() -> None:
    from headroom.compressors.json_crusher import SmartCrusher
    from headroom.markers import is_member_marker
    from tests.helpers import compressor_context

    # A bias of 3 would keep 9 + 6 ends; the cap of 5 still holds.
    items = [{"id": i, "name": f"svc{i}", "state": "running"} for i in range(80)]
    text = json.dumps(items, indent=2)
    ctx, store = compressor_context(query="list services", bias=3.0, json_max_items=5)
    out = SmartCrusher().compress(text, ctx)
    assert out is not None and out.key is not None
    crushed = json.loads(out.text)
    assert len(crushed) == 6 and crushed[:3] == items[:3] and crushed[3:5] == items[-2:]
    assert store.items[out.key] == text  # the original, byte for byte
    # A map whose members the query names by key: all of them stay, over the cap.
    versions = {f"1.{i}.0": {"deps": [i % 3], "size": i % 5} for i in range(60)}
    named = " ".join(f"1.{i}.0" for i in range(0, 60, 6))  # ten versions
    ctx, _ = compressor_context(query=f"compare {named}", json_max_items=4)
    out = SmartCrusher().compress(json.dumps(versions), ctx)
    assert out is not None
    crushed = json.loads(out.text)
    note = crushed.pop("__headroom__")
    assert sorted(crushed) == sorted(f"1.{i}.0" for i in range(0, 60, 6))
    assert "50 of 60 keys omitted (over the cap of 4 keys" in note
    assert is_member_marker("__headroom__", note)
    # Crushing the crushed output again never keeps the old marker as a member.
    again = SmartCrusher().compress(json.dumps({**crushed, "__headroom__": note}), ctx)
    assert again is None or "__headroom__1" not in again.text
    assert SmartCrusher().compress(json.dumps(versions), ctx) == out  # deterministic


def test_json_max_items_is_validated() -> None:
    from headroom import ConfigError
    from headroom.config import HeadroomConfig

    for bad in (0, -1, True, 2.5):
        with pytest.raises(ConfigError, match="json_max_items"):
            HeadroomConfig(json_max_items=bad)
