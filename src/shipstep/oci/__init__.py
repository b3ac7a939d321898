"""The OCI distribution client shared by publish, sign, bump and the agent.

- `shipstep.oci.reference`: `parse_reference`, `Reference`, `parse_digest`.
- `shipstep.oci.manifest`: media types, `Descriptor`, `Manifest`, `digest_of`.
- `shipstep.oci.auth`: credential providers (`DockerConfig`, `StaticCredentials`,
  `ChainCredentials`, `Anonymous`).
- `shipstep.oci.ecr`: ECR hosts and `EcrCredentials` (boto3 GetAuthorizationToken).
- `shipstep.oci.ecr_repository`: ECR repository settings, image details, the scan gate.
- `shipstep.oci.client`: `RegistryClient` (manifests, blobs, tags, referrers).
- `shipstep.oci.referrers`: the referrers API and its `sha256-<hex>` tag fallback.
- `shipstep.oci.copy`: copy manifests (indexes with children), blobs, signatures.
- `shipstep.oci.transport`: endpoints, TLS policy, auth handshake, retries.
"""
