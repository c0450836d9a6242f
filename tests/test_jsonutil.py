"""jsonutil: minify and dumps never change a value or its text."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from headroom import jsonutil

_text = st.text(st.sampled_from(list('ab "\\\t\n/é{}[]:,')), max_size=8)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_json, st.sampled_from([None, 1, 2, "\t"]), st.booleans())
def test_minify_drops_only_whitespace_between_tokens(value, indent, ascii_only):
    text = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    minified = jsonutil.minify(text)
    assert minified == jsonutil._MINIFY.sub(lambda m: m.group(1) or "", text)  # the slow path
    assert json.loads(minified) == json.loads(text)
    assert minified == json.dumps(value, separators=(",", ":"), ensure_ascii=ascii_only)
