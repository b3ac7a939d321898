"""The OCI distribution client shared by publish, sign, bump and the agent.

- `shipstep.oci.reference`: `parse_reference`, `Reference`, `parse_digest`.
- `shipstep.oci.manifest`: media types, `Descriptor`, `Manifest`, `digest_of`.
- `shipstep.oci.auth`: credential providers (`DockerConfig`, `StaticCredentials`,
  `ChainCredentials`, `Anonymous`).
- `shipstep.oci.ecr`: ECR hosts and `EcrCredentials` (boto3 GetAuthorizationToken).
- `shipstep.oci.client`: `RegistryClient` (manifests, blobs, tags, referrers).
- `shipstep.oci.transport`: endpoints, TLS policy, auth handshake, retries.
"""
