"""Published metric names of AWS CloudWatch and Google Cloud Monitoring, kept as data.

``data/reference-aws.json`` and ``data/reference-gcp.json`` list, per namespace (AWS) or metric
type prefix (GCP), only names that were checked against the provider's published documentation
or source; every group carries the page it came from and the date it was read. Code that emits a
metric name, dimension or label should look it up here rather than spell it from memory: a name
that is not in these files was not verified and may not exist.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

Reference = dict[str, Any]


@lru_cache(maxsize=None)
def _load(cloud: str) -> Reference:
    text = resources.files("aiinfra.observability").joinpath(f"data/reference-{cloud}.json").read_text("utf-8")
    data: Reference = json.loads(text)
    return data


def aws() -> Reference:
    """The whole AWS reference document (``retrieved``, ``groups``)."""
    return _load("aws")


def gcp() -> Reference:
    """The whole Google Cloud reference document (``retrieved``, ``groups``)."""
    return _load("gcp")


def aws_metric(namespace: str, name: str) -> dict[str, Any] | None:
    """The entry for CloudWatch metric ``name`` in ``namespace`` (e.g. ``"CWAgent"``), or None."""
    for group in aws()["groups"]:
        if group["namespace"] == namespace and name in group["metrics"]:
            entry: dict[str, Any] = group["metrics"][name]
            return entry
    return None


def gcp_metric(metric_type: str) -> dict[str, Any] | None:
    """The entry for a full Cloud Monitoring metric type, e.g. ``"agent.googleapis.com/gpu/utilization"``."""
    for group in gcp()["groups"]:
        if metric_type in group["metrics"]:
            entry: dict[str, Any] = group["metrics"][metric_type]
            return entry
    return None


def sources() -> list[str]:
    """Every page the two files cite (group sources first, then supporting evidence), deduplicated."""
    urls: list[str] = []
    for doc in (aws(), gcp()):
        for group in doc["groups"]:
            for url in [group["source"], *group.get("evidence", [])]:
                if url not in urls:
                    urls.append(url)
    return urls
