"""Compress an agent transcript, then get an omitted item back by query."""

from headroom import MemoryStore, compress, retrieve
from headroom.samples import demo_transcript

store = MemoryStore()
result = compress(demo_transcript(), model="gpt-4o", store=store)
print(
    f"tokens: {result.tokens_before} -> {result.tokens_after} ({result.compression_ratio:.1%} saved)"
)
print("transforms:", result.transforms_applied)
for key in result.retrieval_keys:
    hit = retrieve(key, query="PG-5523", store=store)
    print(f"{key}: {hit.matched} of {hit.total} items match 'PG-5523'")
