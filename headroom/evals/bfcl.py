"""BFCL multi-turn: real tool outputs from the leaderboard's own simulators.

The PyPI package ``bfcl-eval`` ships the Berkeley Function Calling Leaderboard data
(questions, initial states, ground-truth call sequences) and the Python classes
that simulate the tools. We execute the ground-truth calls offline, build the
conversation an agent would have had, compress it, and check every argument value
that a later ground-truth call takes from an earlier tool output: it must still be
in that output inline, or come back from one ``headroom_retrieve`` call on a key
the output names.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import io
import json
import uuid
from importlib import resources
from typing import Any

from ..messages import tool_exchange
from .cases import EvalCase
from .metrics import contains

INSTALL_HINT = (
    "The BFCL dataset needs the bfcl-eval package. Its declared dependencies include "
    "torch-sized ML stacks the simulators never use, so install it without them:\n"
    "    pip install --no-deps bfcl-eval mpmath\n"
    "(the multi-turn simulators need only the standard library plus mpmath)."
)
CATEGORIES = (
    "multi_turn_long_context",
    "multi_turn_base",
    "multi_turn_miss_param",
    "multi_turn_miss_func",
)
MIN_VALUE_LEN = 3  # shorter values ("1", "ok") match earlier outputs by coincidence


class DatasetUnavailable(RuntimeError):
    """A dataset's files or package are missing; the message says how to get them."""


def _data_dir() -> Any:
    try:
        importlib.import_module("bfcl_eval")
    except ImportError as exc:
        raise DatasetUnavailable(INSTALL_HINT) from exc
    return resources.files("bfcl_eval") / "data"


def _read_jsonl(path: Any) -> list[dict[str, Any]]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def load_entries(
    category: str = "multi_turn_long_context",
) -> list[tuple[dict[str, Any], list[list[str]]]]:
    """(entry, ground-truth calls per turn) for every entry of ``category``."""
    if category not in CATEGORIES:
        raise DatasetUnavailable(
            f"unknown BFCL category {category!r}; choose one of {', '.join(CATEGORIES)}"
        )
    data = _data_dir()
    questions = sorted(p for p in data.iterdir() if p.name.endswith(f"_{category}.json"))
    answers_dir = data / "possible_answer"
    answers = sorted(p for p in answers_dir.iterdir() if p.name.endswith(f"_{category}.json"))
    if not questions or not answers:
        raise DatasetUnavailable(f"bfcl-eval is installed but has no {category} data files")
    truth = {a["id"]: a["ground_truth"] for a in _read_jsonl(answers[-1])}
    return [(q, truth[q["id"]]) for q in _read_jsonl(questions[-1]) if q["id"] in truth]


def call_arguments(call: str) -> tuple[str, dict[str, Any]] | None:
    """``name`` and literal arguments of a call like ``cd(folder='x')``; positional
    arguments are named ``_0``, ``_1``…; None when it is not a literal call."""
    try:
        node = ast.parse(call.strip(), mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(node, ast.Call):
        return None
    name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "?")
    args: dict[str, Any] = {}
    try:
        for i, arg in enumerate(node.args):
            args[f"_{i}"] = ast.literal_eval(arg)
        for kw in node.keywords:
            if kw.arg is not None:
                args[kw.arg] = ast.literal_eval(kw.value)
    except (ValueError, SyntaxError, TypeError):
        return None
    return name, args


def _scalars(value: Any) -> list[str]:
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, (int, float, str)):
        return [str(value)]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _scalars(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _scalars(v)]
    return []


def _execute(entry: dict[str, Any], truth: list[list[str]]) -> list[list[str]]:
    multi_turn_utils = importlib.import_module(
        "bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils"
    )
    model = f"headroom_evals_{uuid.uuid4().hex[:8]}"
    long_context = "long_context" in entry["id"]
    outputs = []
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            for calls in truth:
                results, _ = multi_turn_utils.execute_multi_turn_func_call(
                    calls,
                    entry["initial_config"],
                    entry["involved_classes"],
                    model,
                    entry["id"],
                    long_context=long_context,
                )
                outputs.append([str(r) for r in results])
    finally:  # the simulators keep their instances in that module's globals
        g = vars(multi_turn_utils)
        for name in [k for k in g if k.startswith(model)]:
            del g[name]
    return outputs


def entry_case(entry: dict[str, Any], truth: list[list[str]]) -> EvalCase:
    """The entry's conversation, with its carried argument values as needles."""
    outputs = _execute(entry, truth)
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are an agent that operates the given tools."}
    ]
    user_text = ""
    tool_indices: list[tuple[int, str]] = []  # (message index, output) in call order
    needles: dict[str, set[int]] = {}
    n = 0
    for turn, calls in enumerate(truth):
        turn_messages = entry["question"][turn] if turn < len(entry["question"]) else []
        for m in turn_messages:
            if isinstance(m, dict) and isinstance(m.get("content"), str):
                messages.append({"role": m.get("role", "user"), "content": m["content"]})
                user_text += "\n" + m["content"]
        for call, output in zip(calls, outputs[turn], strict=False):
            parsed = call_arguments(call)
            name, args = parsed if parsed is not None else (call.split("(")[0], {})
            for value in {v for a in args.values() for v in _scalars(a)}:
                if len(value) < MIN_VALUE_LEN or value in user_text:
                    continue
                earlier = {i for i, text in tool_indices if contains(text, value)}
                if earlier:
                    needles.setdefault(value, set()).update(earlier)
            call_id = f"call_{n}"
            n += 1
            messages += tool_exchange(output, name, call_id, json.dumps(args, default=str))
            tool_indices.append((len(messages) - 1, output))
        messages.append({"role": "assistant", "content": "Done."})
    return EvalCase(
        name=entry["id"],
        kind="bfcl",
        question=user_text.strip(),
        answer="",
        output="",
        needles=tuple(needles),
        conversation=messages,
        needle_sources={k: tuple(sorted(v)) for k, v in needles.items()},
        meta={"involved_classes": entry["involved_classes"], "tool_outputs": len(tool_indices)},
    )


def bfcl_cases(n: int | None = None, category: str = "multi_turn_long_context") -> list[EvalCase]:
    entries = load_entries(category)
    if n is not None:
        entries = entries[:n]
    return [entry_case(e, t) for e, t in entries]


def summary(cases: list[Any]) -> dict[str, Any]:
    """Carried-value rates over case results of BFCL cases."""
    values = [nd for c in cases for nd in c.needles]
    total = len(values)
    inline = sum(v.inline for v in values)
    retained = sum(v.retained for v in values)
    with_values = sum(1 for c in cases if c.needles)
    text = (
        f"{total} carried argument values in {with_values} of {len(cases)} entries: "
        f"{100 * inline / total if total else 100:.1f}% inline, "
        f"{100 * retained / total if total else 100:.1f}% inline or retrievable"
    )
    return {
        "summary": text,
        "entries": len(cases),
        "entries_with_carried_values": with_values,
        "carried_values": total,
        "inline": inline,
        "retained": retained,
        "inline_rate": inline / total if total else 1.0,
        "retained_rate": retained / total if total else 1.0,
        "lost": [f"{c.name}:{v.needle}" for c in cases for v in c.needles if not v.retained],
        "retrieval_only": [
            f"{c.name}:{v.needle}" for c in cases for v in c.needles if v.retained and not v.inline
        ],
    }
