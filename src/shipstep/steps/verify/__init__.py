"""The verify step: prove the cluster runs exactly the signed digest, and
roll back through the config repository when it does not.

`run_verify(inputs)` returns a `VerifyReport`; modules: `rollout` (cluster
checks on dicts), `wait` (watching with a deadline), `agent_status`,
`signatures`, `smoke`, `prometheus`, `cloudwatch`, `revert`, `report`.
"""
