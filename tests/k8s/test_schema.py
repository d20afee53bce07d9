"""Every exported object validates offline: core kinds against Kubernetes 1.34's OpenAPI schema (strict:
unknown fields are errors) with kubernetes-validate; LeaderWorkerSets and the ComputeDomain against typed
models of their APIs, and the LWS pod templates against the core PodTemplateSpec schema."""

from __future__ import annotations

import copy

import kubernetes_validate  # the dev extra (`make setup`): a missing validator fails, never skips
import pytest
from pydantic import ValidationError

from pdcompose.export.k8s import KUBERNETES_VERSION
from pdcompose.export.k8s.lws import CUSTOM, LeaderWorkerSet, check_custom
from tests.k8s.conftest import Case


def validate_core(obj: dict) -> None:
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION + ".0", strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{obj['kind']} {obj.get('metadata', {}).get('name')}: {exc}")


def test_every_object_validates(case: Case):
    objects = case.objects()
    kinds = {o["kind"] for o in objects}
    assert {"LeaderWorkerSet", "Deployment", "Service", "ServiceAccount", "Role", "RoleBinding"} <= kinds
    for obj in objects:
        if obj["kind"] in CUSTOM:
            check_custom(obj)
        else:
            validate_core(obj)
        if obj["kind"] == "LeaderWorkerSet":
            lwt = obj["spec"]["leaderWorkerTemplate"]
            for key in ("leaderTemplate", "workerTemplate"):
                if key in lwt:
                    validate_core({"apiVersion": "v1", "kind": "PodTemplate",
                                   "metadata": {"name": f"{obj['metadata']['name']}-{key.lower()}"},
                                   "template": lwt[key]})


def test_the_validator_is_not_blind(case: Case):
    """The same checks reject a broken object: a strict schema, a typed LWS model."""
    deployment = copy.deepcopy(next(o for o in case.objects() if o["kind"] == "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["bogus"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION + ".0", strict=True)
    lws = next(o for o in case.objects() if o["kind"] == "LeaderWorkerSet")
    for path, value in ((("spec", "leaderWorkerTemplate", "size"), 0),
                        (("spec", "leaderWorkerTemplate", "restartPolicy"), "Always"),
                        (("spec", "startupPolicy"), "WhenReady"),
                        (("spec", "leaderWorkerTemplate", "workerTemplates"), {}),
                        (("metadata", "name"), "Bad_Name")):
        broken = copy.deepcopy(lws)
        node = broken
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        with pytest.raises(ValidationError):
            LeaderWorkerSet.model_validate(broken)


def test_kustomization_lists_one_file_per_kind(case: Case):
    from tests.helpers import load_yaml

    kustomization = load_yaml(case.k8s / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    assert kustomization["namespace"] == "default"
    files = sorted(p.name for p in case.k8s.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(kustomization["resources"]) == files
    for name in files:
        kinds = {o["kind"] for o in case.objects() if name == f"{o['kind'].lower()}.yaml"}
        assert len(kinds) == 1, name
