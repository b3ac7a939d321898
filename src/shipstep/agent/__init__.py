"""The in-cluster pull agent: source -> render -> validate -> policy gate ->
staged server-side apply -> inventory -> prune -> drift -> health -> status.

Pure modules (no Kubernetes client): `config`, `objects`, `render`,
`validate`, `plan`, `prune`, `health`, `status` (format). The cluster layer
(`kube`) is the only module that imports `kubernetes`.
"""
