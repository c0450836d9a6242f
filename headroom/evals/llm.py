"""Optional: ask a model each question with the original and the compressed context.

Runs only with ``--llm`` and an ``ANTHROPIC_API_KEY`` or ``OPENAI_API_KEY``. Uses the
official SDK when installed, else plain HTTPS through urllib. Never used in tests.
The compressed run gets no tools, so a needle that only ``headroom_retrieve`` could
return counts against it: the comparison is conservative.
"""

from __future__ import annotations

import json
import os
import re
import string
import urllib.request
from collections import Counter
from collections.abc import Callable
from typing import Any

NO_KEY = (
    "--llm skipped: set ANTHROPIC_API_KEY or OPENAI_API_KEY to compare answers from the "
    "original and the compressed context (offline metrics above are unaffected)."
)

Ask = Callable[[str], str]


def normalize(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(a: str, b: str) -> bool:
    return normalize(a) == normalize(b)


def f1(prediction: str, reference: str) -> float:
    p, r = normalize(prediction).split(), normalize(reference).split()
    common = sum((Counter(p) & Counter(r)).values())
    if not p or not r or common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(r)
    return 2 * precision * recall / (precision + recall)


def found(answer: str, truth: str) -> bool:
    return bool(truth) and normalize(truth) in normalize(answer)


def provider() -> tuple[str, str] | None:
    """(provider, default model) for the key that is set, or None."""
    if os.environ.get("ANTHROPIC_API_KEY"):
        return "anthropic", os.environ.get("HEADROOM_EVAL_MODEL", "claude-3-5-haiku-latest")
    if os.environ.get("OPENAI_API_KEY"):
        return "openai", os.environ.get("HEADROOM_EVAL_MODEL", "gpt-4o-mini")
    return None


def _post(url: str, headers: dict[str, str], body: dict[str, Any]) -> Any:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {**headers, "content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read())


def make_ask(name: str, model: str) -> Ask:
    system = "Answer the question from the provided context in one short sentence."
    if name == "anthropic":
        key = os.environ["ANTHROPIC_API_KEY"]

        def ask_anthropic(prompt: str) -> str:
            try:
                import anthropic  # type: ignore[import-not-found, unused-ignore]

                client = anthropic.Anthropic(api_key=key)
                msg = client.messages.create(
                    model=model,
                    max_tokens=300,
                    system=system,
                    messages=[{"role": "user", "content": prompt}],
                )
                return "".join(getattr(b, "text", "") for b in msg.content)
            except ImportError:
                data = _post(
                    "https://api.anthropic.com/v1/messages",
                    {"x-api-key": key, "anthropic-version": "2023-06-01"},
                    {
                        "model": model,
                        "max_tokens": 300,
                        "system": system,
                        "messages": [{"role": "user", "content": prompt}],
                    },
                )
                return "".join(b.get("text", "") for b in data.get("content", []))

        return ask_anthropic
    key = os.environ["OPENAI_API_KEY"]

    def ask_openai(prompt: str) -> str:
        messages: list[Any] = [
            {"role": "system", "content": system},
            {"role": "user", "content": prompt},
        ]
        try:
            import openai  # type: ignore[import-not-found, unused-ignore]

            client = openai.OpenAI(api_key=key)
            out = client.chat.completions.create(model=model, messages=messages, max_tokens=300)
            return str(out.choices[0].message.content or "")
        except ImportError:
            data = _post(
                "https://api.openai.com/v1/chat/completions",
                {"authorization": f"Bearer {key}"},
                {"model": model, "messages": messages, "max_tokens": 300},
            )
            return str(data["choices"][0]["message"]["content"] or "")

    return ask_openai


def prompt(context: str, question: str) -> str:
    return f"Tool output:\n{context}\n\nQuestion: {question}"


def compare(items: list[tuple[str, str, str, str]], ask: Ask) -> dict[str, Any]:
    """Each item is (question, ground truth, original context, compressed context).

    The answer from the original context is the reference for exact match and F1."""
    rows: list[dict[str, Any]] = []
    for question, truth, original, compressed in items:
        a = ask(prompt(original, question))
        b = ask(prompt(compressed, question))
        rows.append(
            {
                "question": question,
                "truth": truth,
                "original_answer": a,
                "compressed_answer": b,
                "exact_match": exact_match(a, b),
                "f1": round(f1(b, a), 4),
                "truth_in_original": found(a, truth),
                "truth_in_compressed": found(b, truth),
            }
        )
    n = len(rows) or 1
    summary = (
        f"{len(rows)} questions: answers agree exactly {100 * sum(r['exact_match'] for r in rows) / n:.0f}%, "
        f"mean F1 {sum(r['f1'] for r in rows) / n:.2f}; ground truth found "
        f"{100 * sum(r['truth_in_original'] for r in rows) / n:.0f}% (original) vs "
        f"{100 * sum(r['truth_in_compressed'] for r in rows) / n:.0f}% (compressed)"
    )
    return {"summary": summary, "rows": rows}
