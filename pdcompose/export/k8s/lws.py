"""Typed models of the two custom resources the export writes, from their APIs' documentation:
LeaderWorkerSet (leaderworkerset.x-k8s.io/v1, kubernetes-sigs/lws `api/leaderworkerset/v1`) and NVIDIA's
ComputeDomain (resource.nvidia.com/v1beta1, the DRA driver for GPUs). Unknown fields are errors. Pod
templates are plain dicts here: the core Kubernetes schema judges them (tests/k8s)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ObjectMeta(BaseModel):
    model_config = ConfigDict(extra="allow")   # core ObjectMeta: judged by the Kubernetes schema
    name: str = Field(pattern=r"^[a-z]([-a-z0-9]*[a-z0-9])?$", max_length=63)
    namespace: str | None = None
    labels: dict[str, str] = {}


class PodTemplateSpec(Strict):
    metadata: dict[str, Any] = {}
    spec: dict[str, Any]


class SubGroupPolicy(Strict):
    type: Literal["LeaderWorker", "LeaderExcluded"] | None = Field(None, alias="subGroupPolicyType")
    subGroupSize: int | None = Field(None, ge=1)


class LeaderWorkerTemplate(Strict):
    leaderTemplate: PodTemplateSpec | None = None
    workerTemplate: PodTemplateSpec
    size: int = Field(1, ge=1)
    restartPolicy: Literal["Default", "RecreateGroupOnPodRestart", "RecreateGroupAfterStart", "None"] = (
        "RecreateGroupOnPodRestart")
    subGroupPolicy: SubGroupPolicy | None = None
    volumeClaimTemplates: list[dict[str, Any]] = []
    persistentVolumeClaimRetentionPolicy: dict[str, Any] | None = None


class RollingUpdateConfiguration(Strict):
    partition: int | None = Field(None, ge=0)
    maxUnavailable: int | str = 1
    maxSurge: int | str = 0


class RolloutStrategy(Strict):
    type: Literal["RollingUpdate"] = "RollingUpdate"
    rollingUpdateConfiguration: RollingUpdateConfiguration | None = None


class NetworkConfig(Strict):
    subdomainPolicy: Literal["Shared", "UniquePerReplica"] | None = None


class LeaderWorkerSetSpec(Strict):
    replicas: int = Field(1, ge=0)
    leaderWorkerTemplate: LeaderWorkerTemplate
    rolloutStrategy: RolloutStrategy | None = None
    startupPolicy: Literal["LeaderCreated", "LeaderReady"] = "LeaderCreated"
    networkConfig: NetworkConfig | None = None


class LeaderWorkerSet(Strict):
    apiVersion: Literal["leaderworkerset.x-k8s.io/v1"]
    kind: Literal["LeaderWorkerSet"]
    metadata: ObjectMeta
    spec: LeaderWorkerSetSpec


class ResourceClaimTemplateRef(Strict):
    name: str


class Channel(Strict):
    resourceClaimTemplate: ResourceClaimTemplateRef
    allocationMode: Literal["Single", "All"] | None = None


class ComputeDomainSpec(Strict):
    numNodes: int = Field(ge=0)
    channel: Channel


class ComputeDomain(Strict):
    apiVersion: Literal["resource.nvidia.com/v1beta1"]
    kind: Literal["ComputeDomain"]
    metadata: ObjectMeta
    spec: ComputeDomainSpec


CUSTOM = {"LeaderWorkerSet": LeaderWorkerSet, "ComputeDomain": ComputeDomain}


def check_custom(obj: dict[str, Any]) -> None:
    """Validate a custom resource against its typed model (raises pydantic.ValidationError)."""
    CUSTOM[str(obj["kind"])].model_validate(obj)
