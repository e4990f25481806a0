"""deploy/k8s/: the manifests parse, and every Deployment has what a rolling upgrade without
downtime needs (probes on the service's real endpoints, a grace period covering the
service's shutdown, migrations first, a non-root pod, resources, a disruption budget)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from trellis.core.runtime.service import create_app
from trellis.goals.bootstrap import SERVICE as GOALS
from trellis.goals.bootstrap import GoalsSettings

K8S = Path(__file__).parent.parent / "deploy" / "k8s"
SERVICES = ("goals", "onboarding", "feedback", "notifications")


def documents(service: str) -> dict[str, dict[str, Any]]:
    docs = list(yaml.safe_load_all((K8S / f"{service}.yaml").read_text()))
    by_kind = {doc["kind"]: doc for doc in docs}
    assert len(by_kind) == len(docs), "one object of each kind per service file"
    return by_kind


def test_the_kustomization_lists_every_service_file() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["resources"] == [f"{s}.yaml" for s in SERVICES]
    assert {image["name"] for image in kustomization["images"]} == {f"trellis/{s}" for s in SERVICES}
    yaml.safe_load((K8S / "nats-values.yaml").read_text())


@pytest.mark.parametrize("service", SERVICES)
def test_each_deployment_is_probed_migrated_and_stops_gracefully(service: str) -> None:
    docs = documents(service)
    assert set(docs) == {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget"}
    deployment = docs["Deployment"]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = deployment["spec"]["template"]["spec"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()

    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]

    (migrate,) = pod["initContainers"]
    assert migrate["command"] == ["trellis", "migrate", service]
    assert migrate["image"] == container["image"] == f"trellis/{service}"
    assert migrate["envFrom"] == container["envFrom"]

    prefix = f"TRELLIS_{service.upper()}_"
    config = docs["ConfigMap"]["data"]
    assert {"configMapRef": {"name": docs["ConfigMap"]["metadata"]["name"]}} in container["envFrom"]
    assert {"secretRef": {"name": f"trellis-{service}"}} in container["envFrom"]
    assert config[prefix + "STREAM_REPLICAS"] == "3"
    assert config[prefix + "PARTITIONS"] == "4"
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > int(pre_stop[1]) + float(config[prefix + "SHUTDOWN_GRACE"])

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the image's USER
    for c in (container, migrate):
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert any(m["mountPath"] == "/app/data" for m in c["volumeMounts"])  # data_dir is writable

    assert docs["Service"]["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert docs["PodDisruptionBudget"]["spec"]["selector"] == deployment["spec"]["selector"]
    assert docs["PodDisruptionBudget"]["spec"]["minAvailable"] < deployment["spec"]["replicas"]


async def test_the_probed_paths_are_the_services_own(tmp_path: Path) -> None:
    """The probes point at endpoints that exist; /health answers without NATS or readiness."""
    settings = GoalsSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'goals.db'}", data_dir=tmp_path)
    app = create_app(GOALS, settings)
    paths = {getattr(route, "path", None) for route in app.routes}
    assert {"/ready", "/health"} <= paths
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://goals") as client:
        assert (await client.get("/health")).status_code == 200
