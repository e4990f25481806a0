"""The alert rules and the dashboard in deploy/ parse, and name only metrics Trellis exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import trellis.core.metrics  # noqa: F401  (registers the metrics)

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
SAMPLE_SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created")


def exported() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        if family.name.startswith("trellis_"):
            names.add(family.name)
            names.update(family.name + suffix for suffix in SAMPLE_SUFFIXES)
    return names


def named_in(expr: str) -> set[str]:
    return set(re.findall(r"\btrellis_[a-z_]+\b", expr))


def test_every_alert_rule_is_complete_and_names_exported_metrics() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus/alerts.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert len(alerts) >= 5
    known = exported()
    for rule in alerts:
        assert {"alert", "expr", "labels", "annotations"} <= set(rule), rule
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
        used = named_in(rule["expr"])
        assert used and used <= known, (rule["alert"], used - known)
        assert rule["expr"].count("(") == rule["expr"].count(")")
    wanted = {"TrellisConsumerLagGrowing", "TrellisOutboxNotDraining", "TrellisDeadLetters"}
    assert wanted <= {rule["alert"] for rule in alerts}


def test_every_dashboard_panel_queries_exported_metrics() -> None:
    dashboard = json.loads((DEPLOY / "grafana/trellis.json").read_text())
    known = exported()
    targets = [t for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(targets) >= 12
    for target in targets:
        used = named_in(target["expr"])
        assert used and used <= known, (target["expr"], used - known)
        assert target["expr"].count("(") == target["expr"].count(")")
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
