"""Signing and verifying image digests, compatible with cosign.

- `keys`: cosign key files (encrypted and PKCS#8), public keys, key pairs.
- `payload`: the simple-signing payload of classic cosign signatures.
- `awskms`: `awskms://` key references, signing through AWS KMS.
- `classic`: classic signatures (`sha256-<hex>.sig` manifests): build, verify.
- `bundle`: Sigstore bundles (DSSE in-toto statements): build, verify.
- `keyless`: the one network call that signs keylessly (Fulcio + Rekor).
- `policy`: the verification policy file shared with the agent.
"""
