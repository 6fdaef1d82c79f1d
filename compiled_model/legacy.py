"""Model files of the first format, read once more: their untyped metadata dict converted to the
JSON form of the current `ModelSpec` (`compiled_model.spec_json` then checks it like any file).

The first format named residual dimensions by text only (`tokens:a`, `indices=3`, `sort:'a'`)
and the fast heads' targets by those names.  This module is the one place that parses such a
label, once, when an old file is loaded; nothing at run time does.
"""

from __future__ import annotations

from typing import Any

from compiled_model.spec import TIE_WINDOW


def converted(data: dict[str, Any]) -> dict[str, Any]:
    """The format-2 JSON fields of a format-1 metadata dict (a KeyError or TypeError for a
    dict that is not one)."""
    labels = [str(label) for label in data["labels"]]
    index = {label: i for i, label in enumerate(labels)}
    attention = data.get("attention", {"mode": "soft"})
    return {
        "format": 2,
        "program": data["program"],
        "vocab": data["vocab"],
        "max_seq_len": data["max_seq_len"],
        "causal": data["causal"],
        "attention": {"mode": attention["mode"], "tie_window": attention.get("tie_window", TIE_WINDOW)},
        "residual": [_dim(label) for label in labels],
        "output": data["output"],
        "layout": data["layout"],
        "precision": {
            "float32_ok": data["precision"]["float32_ok"],
            "heads": [_record(record) for record in data["precision"]["heads"]],
            "mlps": [_record(record) for record in data["precision"]["mlps"]],
        },
        "mixtures": data.get("mixtures", []),
        # a file older than the descriptors has none: the fast passes refuse it, the rest runs it
        "heads": [[_head(head, index) for head in layer] for layer in data.get("fast_heads", [])],
        "cache_key": data.get("cache_key"),
    }


def _dim(label: str) -> dict[str, Any]:
    """A residual dimension of its first-format label."""
    none = {"none": None}
    if label in ("one", "bos", "indices", "indices^2"):
        return {"label": label, "kind": label, "sop": None, "value": none}
    if label.startswith("tokens:"):
        return {"label": label, "kind": "token", "sop": None, "value": {"str": label[len("tokens:") :]}}
    if label.startswith("indices=") and label[len("indices=") :].isdigit():
        return {"label": label, "kind": "index", "sop": None, "value": {"int": int(label[len("indices=") :])}}
    if label == "pad" or label.startswith("pad#"):
        return {"label": label, "kind": "padding", "sop": None, "value": none}
    family, colon, shown = label.partition(":")
    if not colon:
        return {"label": label, "kind": "number", "sop": label, "value": none}
    return {"label": label, "kind": "indicator", "sop": family, "value": {"str": shown}}


def _record(record: dict[str, Any]) -> dict[str, Any]:
    """A block's precision record: the verdicts, the unit count, the other numbers as figures."""
    named = ("node", "float32_ok", "float64_ok", "units")
    figures = {
        key: value
        for key, value in record.items()
        if key not in named and isinstance(value, (int, float)) and not isinstance(value, bool)
    }
    return {
        "node": record["node"],
        "float32_ok": record["float32_ok"],
        "float64_ok": record["float64_ok"],
        "units": record.get("units", 0),
        "figures": figures,
    }


def _head(head: dict[str, Any], index: dict[str, int]) -> dict[str, Any]:
    """A head descriptor whose lookup target names residual labels, by residual index."""
    target = [[index[label], coefficient] for label, coefficient in head.get("target", {}).items()]
    return {"kind": head["kind"], "target": target, "outside": head.get("outside", "bos")}
