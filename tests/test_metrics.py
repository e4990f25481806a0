"""``/metrics``: what a command did shows in Prometheus figures, from the request to the consumers."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from .ops_system import ADMIN, OpsSystem


async def scrape(ops: OpsSystem, service: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = await ops.clients[service].get("/metrics")  # no token: scraped inside the cluster
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(resp.text)
        for sample in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    return sum(v for (n, have), v in found.items() if n == name and set(labels.items()) <= set(have))


async def test_a_command_is_counted_from_its_request_to_its_consumers(ops: OpsSystem) -> None:
    before = await scrape(ops, "goals")
    goal = await ops.create_goal("Grow")
    missing = await ops.clients["goals"].get(f"/v1/goals/{goal}x", headers={"Authorization": "Bearer x"})
    assert missing.status_code == 401
    await ops.settled()
    after = await scrape(ops, "goals")

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # by route template, never by raw path (ids would explode the label space)
    assert grew("trellis_http_requests_total", route="/v1/goals", method="POST", status="201") == 1
    assert grew("trellis_http_requests_total", route="/v1/goals/{goal_id}", status="401") == 1
    assert not [labels for (_, labels) in after if goal in str(labels)]
    assert grew("trellis_http_request_seconds_count", route="/v1/goals", method="POST") == 1
    assert grew("trellis_events_appended_total", service="goals") == 1
    assert grew("trellis_relay_published_total") >= 1
    assert grew("trellis_consumer_messages_total", consumer="goals-alignment-tree", answer="ack") >= 1
    assert value(after, "trellis_consumer_batch_seconds_count", consumer="goals-alignment-tree") >= 1
    assert value(after, "trellis_outbox_unpublished", service="goals") == 0
    assert value(after, "trellis_outbox_oldest_unpublished_seconds", service="goals") == 0
    assert value(after, "trellis_dead_letters", service="goals", consumer="goals-alignment-tree") == 0
    assert value(after, "trellis_leases_held", service="goals") >= 1
    assert ("trellis_deadlines_due", (("service", "goals"),)) in after


async def test_a_conflict_and_the_consumers_of_another_service_are_counted(ops: OpsSystem) -> None:
    goal = await ops.create_goal("Grow")
    stale = await ops.clients["goals"].put(
        f"/v1/goals/{goal}/status", json={"status": "at_risk"}, headers={**ADMIN, "If-Match": "7"}
    )
    assert stale.status_code == 409
    await ops.settled()
    goals = await scrape(ops, "goals")
    assert value(goals, "trellis_http_requests_total", status="409") >= 1
    notifications = await scrape(ops, "notifications")
    acked = value(notifications, "trellis_consumer_messages_total", answer="ack")
    assert acked >= 1  # notifications follows the goals stream
