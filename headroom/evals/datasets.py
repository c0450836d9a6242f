"""Plug-in datasets: HotpotQA, SQuAD and LongBench from a local file.

Nothing is downloaded. Point ``--path`` at a file you fetched yourself (see
``INSTRUCTIONS``), or install the Hugging Face ``datasets`` package with the data
already in its local cache (it is opened with ``HF_DATASETS_OFFLINE=1``, so a cache
miss fails instead of downloading).

Each record becomes one tool output the agent would plausibly have received (search
results for HotpotQA, a fetched document for SQuAD and LongBench); its needles are
the gold answers and supporting sentences that occur verbatim in that output.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .bfcl import DatasetUnavailable
from .cases import EvalCase

INSTRUCTIONS: dict[str, str] = {
    "hotpotqa": (
        "HotpotQA: download the distractor dev set (hotpot_dev_distractor_v1.json) from "
        "https://hotpotqa.github.io/ and pass --path /path/to/hotpot_dev_distractor_v1.json"
    ),
    "squad": (
        "SQuAD: download dev-v1.1.json or dev-v2.0.json from "
        "https://rajpurkar.github.io/SQuAD-explorer/ and pass --path /path/to/dev-v1.1.json"
    ),
    "longbench": (
        "LongBench: download data.zip from https://huggingface.co/datasets/THUDM/LongBench, "
        "unzip it, and pass one task file, e.g. --path data/hotpotqa.jsonl"
    ),
}
HF_NAMES = {
    "hotpotqa": ("hotpot_qa", "distractor", "validation"),
    "squad": ("squad", None, "validation"),
}


def _read_records(path: Path) -> Iterator[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        for line in text.splitlines():
            if line.strip():
                yield json.loads(line)
        return
    doc = json.loads(text)
    if isinstance(doc, dict) and isinstance(doc.get("data"), list):
        yield from doc["data"]
    elif isinstance(doc, list):
        yield from doc
    else:
        raise DatasetUnavailable(
            f"{path}: expected a JSON list, a SQuAD-style {{'data': [...]}} or JSONL"
        )


_OFFLINE_VARS = ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE")


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    """Hugging Face libraries forced offline for this call only; the environment and
    any already-imported configuration are put back afterwards."""
    saved_env = {v: os.environ.get(v) for v in _OFFLINE_VARS}
    os.environ.update(dict.fromkeys(_OFFLINE_VARS, "1"))
    configs = [
        m
        for m in (sys.modules.get("datasets.config"), sys.modules.get("huggingface_hub.constants"))
        if m
    ]
    saved_cfg = [(m, v, getattr(m, v)) for m in configs for v in _OFFLINE_VARS if hasattr(m, v)]
    for m, v, _ in saved_cfg:
        setattr(m, v, True)
    try:
        yield
    finally:
        for m, v, old in saved_cfg:
            setattr(m, v, old)
        for v, old_env in saved_env.items():
            if old_env is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = old_env


def _from_hf(name: str) -> Iterator[dict[str, Any]]:
    spec = HF_NAMES.get(name)
    if spec is None:
        raise DatasetUnavailable(INSTRUCTIONS[name])
    repo, config, split = spec
    with _offline():
        try:
            import datasets  # type: ignore[import-not-found, unused-ignore]
        except ImportError as exc:
            raise DatasetUnavailable(INSTRUCTIONS[name]) from exc
        try:
            ds = datasets.load_dataset(repo, config, split=split)
        except Exception as exc:  # a cache miss offline raises a library-specific error
            raise DatasetUnavailable(
                f"{name} is not in the local datasets cache ({exc}).\n{INSTRUCTIONS[name]}"
            ) from exc
    for row in ds:
        yield dict(row)


def _needles(context: str, candidates: Iterable[str]) -> tuple[str, ...]:
    return tuple(
        dict.fromkeys(c for c in candidates if isinstance(c, str) and len(c) >= 2 and c in context)
    )


def hotpot_case(i: int, rec: dict[str, Any]) -> EvalCase | None:
    ctx = rec.get("context")
    # local JSON: [[title, [sentences]], ...]; HF: {"title": [...], "sentences": [[...]]}
    if isinstance(ctx, dict):
        pairs = list(zip(ctx.get("title", []), ctx.get("sentences", []), strict=False))
    else:
        pairs = [(p[0], p[1]) for p in ctx or []]
    results = [{"title": t, "text": "".join(s)} for t, s in pairs]
    output = json.dumps(
        {"query": rec["question"], "results": results}, indent=2, ensure_ascii=False
    )
    sentences = dict(pairs)
    sf = rec.get("supporting_facts") or []
    if isinstance(sf, dict):
        sf = list(zip(sf.get("title", []), sf.get("sent_id", []), strict=False))
    support = [
        sentences[t][k].strip() for t, k in sf if t in sentences and 0 <= k < len(sentences[t])
    ]
    answer = str(rec.get("answer", ""))
    needles = _needles(output, [answer, *support])
    if not needles:
        return None
    return EvalCase(
        f"hotpotqa-{rec.get('_id', rec.get('id', i))}",
        "search",
        rec["question"],
        answer,
        output,
        needles,
        "web_search",
    )


def squad_cases(records: Iterable[dict[str, Any]]) -> Iterator[EvalCase]:
    """SQuAD: one case per article, the paragraphs as a fetched page, the first question."""
    for art in records:
        if "paragraphs" in art:
            paras = art["paragraphs"]
            context = "\n\n".join(p["context"] for p in paras)
            qas = [qa for p in paras for qa in p["qas"] if qa.get("answers")]
            if not qas:
                continue
            qa = qas[0]
            answers = [a["text"] for a in qa["answers"]]
            needles = _needles(context, answers[:1])
            if needles:
                yield EvalCase(
                    f"squad-{qa['id']}",
                    "prose",
                    qa["question"],
                    answers[0],
                    context,
                    needles,
                    "fetch_page",
                )
        elif "context" in art and "answers" in art:  # HF flat rows
            answers = art["answers"]["text"] if isinstance(art["answers"], dict) else art["answers"]
            needles = _needles(art["context"], answers[:1])
            if needles:
                yield EvalCase(
                    f"squad-{art.get('id')}",
                    "prose",
                    art["question"],
                    answers[0],
                    art["context"],
                    needles,
                    "fetch_page",
                )


def longbench_case(i: int, rec: dict[str, Any]) -> EvalCase | None:
    context = str(rec.get("context", ""))
    answers = rec.get("answers") or []
    needles = _needles(context, [str(a) for a in answers])
    if not needles:
        return None
    question = str(rec.get("input") or "Answer from the document.")
    return EvalCase(
        f"longbench-{rec.get('_id', i)}",
        "prose",
        question,
        str(answers[0]),
        context,
        needles,
        "fetch_document",
    )


def load_cases(name: str, path: str | None, n: int | None) -> list[EvalCase]:
    """Cases from a local file (``path``) or the offline ``datasets`` cache."""
    if name not in INSTRUCTIONS:
        raise DatasetUnavailable(f"unknown dataset {name!r}")
    if path:
        file = Path(path)
        if not file.is_file():
            raise DatasetUnavailable(f"{path}: no such file.\n{INSTRUCTIONS[name]}")
        records: Iterable[dict[str, Any]] = _read_records(file)
    else:
        records = _from_hf(name)
    cases: list[EvalCase] = []
    if name == "squad":
        for case in squad_cases(records):
            cases.append(case)
            if n is not None and len(cases) >= n:
                break
        return cases
    make = hotpot_case if name == "hotpotqa" else longbench_case
    for i, rec in enumerate(records):
        made = make(i, rec)
        if made is not None:
            cases.append(made)
        if n is not None and len(cases) >= n:
            break
    return cases
