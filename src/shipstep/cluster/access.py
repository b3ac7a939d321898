"""Connect to a cluster: a kubeconfig (file and context), the in-cluster
service account, or Amazon EKS by name and region."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as _k8s_config
from kubernetes.config.config_exception import ConfigException

from shipstep.cluster.client import Cluster
from shipstep.cluster.eks import EksToken, describe_cluster
from shipstep.errors import InputError
from shipstep.progress import NullReporter, Reporter

k8s_config: Any = _k8s_config


@dataclass(frozen=True)
class ClusterOptions:
    kubeconfig: Path | None = None
    context: str | None = None
    in_cluster: bool = False
    eks_cluster: str | None = None
    region: str | None = None
    request_timeout: float = 30.0

    def __post_init__(self) -> None:
        chosen = [bool(self.kubeconfig or self.context), self.in_cluster, bool(self.eks_cluster)]
        if sum(chosen) > 1:
            raise InputError(
                "Choose one way to reach the cluster.",
                hint="Pass either --kubeconfig/--context, --in-cluster, or --eks-cluster with --region.",
            )
        if self.eks_cluster and not (
            self.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        ):
            raise InputError(
                f"--eks-cluster {self.eks_cluster} needs a region.",
                hint="Pass --region (for example eu-west-1).",
            )


def connect(options: ClusterOptions, reporter: Reporter | None = None) -> Cluster:
    """An open `Cluster`; close it (or use `with`) to remove the temporary CA file."""
    reporter = reporter or NullReporter()
    if options.eks_cluster:
        return _connect_eks(options, reporter)
    configuration = k8s.Configuration()
    if options.in_cluster:
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)
        except ConfigException as error:
            raise InputError(
                f"No in-cluster configuration: {error}.",
                hint="--in-cluster works only inside a pod with a service account; pass --kubeconfig elsewhere.",
            ) from error
        where = f"in-cluster API at {configuration.host}"
    else:
        path = str(options.kubeconfig) if options.kubeconfig else None
        if path and not Path(path).is_file():
            raise InputError(
                f"Kubeconfig {path} does not exist.",
                hint="Pass --kubeconfig with an existing file.",
            )
        try:
            k8s_config.load_kube_config(
                config_file=path,
                context=options.context,
                client_configuration=configuration,
                persist_config=False,
            )
        except (ConfigException, OSError, TypeError, ValueError) as error:
            raise InputError(
                f"Cannot load the kubeconfig{' ' + path if path else ''}: {error}.",
                hint="Pass --kubeconfig FILE (and --context NAME), --in-cluster, or --eks-cluster NAME --region R.",
            ) from error
        where = f"{configuration.host}" + (
            f" (context {options.context})" if options.context else ""
        )
    _tune(configuration, options)
    return Cluster(k8s.ApiClient(configuration), where)


def _tune(configuration: Any, options: ClusterOptions) -> None:
    # One retry at most: an unreachable cluster is reported, not hammered.
    configuration.retries = 1
    configuration.request_timeout = options.request_timeout


def _connect_eks(options: ClusterOptions, reporter: Reporter) -> Cluster:
    assert options.eks_cluster
    region = options.region or os.environ.get("AWS_REGION") or os.environ["AWS_DEFAULT_REGION"]
    eks = describe_cluster(options.eks_cluster, region)
    token = EksToken(eks.name, region)
    first = token.get()
    reporter.mask(first)
    handle, ca_path = tempfile.mkstemp(prefix="shipstep-eks-ca-", suffix=".pem")
    with os.fdopen(handle, "wb") as file:
        file.write(eks.ca_pem)
    configuration: Any = k8s.Configuration()
    configuration.host = eks.endpoint
    configuration.ssl_ca_cert = ca_path
    configuration.verify_ssl = True
    configuration.api_key = {"authorization": first}
    configuration.api_key_prefix = {"authorization": "Bearer"}

    def refresh(conf: Any) -> None:
        value = token.get()
        if value != conf.api_key.get("authorization"):
            reporter.mask(value)
            conf.api_key["authorization"] = value

    configuration.refresh_api_key_hook = refresh
    _tune(configuration, options)
    return Cluster(
        k8s.ApiClient(configuration),
        f"EKS cluster {eks.name} ({region}) at {eks.endpoint}",
        cleanup=[Path(ca_path)],
    )
