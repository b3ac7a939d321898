"""Access to a Kubernetes cluster for the verify step: connection from a
kubeconfig, the in-cluster service account or Amazon EKS, and a small reader
(get, list, watch as plain dicts) that turns client errors into diagnostics.

The only package of the steps that imports `kubernetes`.
"""
