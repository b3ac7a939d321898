"""shipstep: composable, containerized pipeline steps for GitOps delivery on AWS."""

from shipstep.errors import ShipstepError

__version__ = "0.1.0"

__all__ = ["ShipstepError", "__version__"]
