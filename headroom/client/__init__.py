"""``HeadroomClient``: the official OpenAI and Anthropic SDK clients, compressing.

Wrap a client and use it as before::

    from openai import OpenAI
    from headroom import HeadroomClient

    client = HeadroomClient(original_client=OpenAI(), default_mode="optimize")
    client.chat.completions.create(model="gpt-4o", messages=[...])
    plan = client.chat.completions.simulate(model="gpt-4o", messages=[...])

Compression happens below the SDK, in the HTTP transport of a copy of the client, so
every SDK feature (streams, ``with_raw_response``, retries, typed errors) works as it
does without Headroom. See ``HeadroomClient`` for the modes.
"""

from __future__ import annotations

from .metrics import MetricsRecord
from .plan import Plan
from .wrapper import MODES, AsyncHeadroomClient, HeadroomClient

__all__ = ["MODES", "AsyncHeadroomClient", "HeadroomClient", "MetricsRecord", "Plan"]
