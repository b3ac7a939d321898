"""Each recorded revision's verdict as a commit status on the config
repository's forge, as Flux's notification-controller does: applied ->
success, failed or refused -> failure. Best effort: a forge error is logged
and never fails a reconcile."""

from __future__ import annotations

import logging

from shipstep.agent.status import APPLIED, FAILED, REFUSED
from shipstep.errors import ShipstepError
from shipstep.forges.interface import CommitStatus, Forge

log = logging.getLogger("shipstep.agent")
STATES = {APPLIED: "success", FAILED: "failure", REFUSED: "failure"}


class CommitStatusNotifier:
    def __init__(self, forge: Forge, context: str) -> None:
        self.forge = forge
        self.context = context

    def __call__(self, revision: str, result: str, reason: str) -> None:
        state = STATES.get(result)
        if state is None:
            return
        first = reason.strip().splitlines()[0] if reason.strip() else ""
        description = f"{result}: {first}" if first else result
        try:
            self.forge.set_commit_status(revision, CommitStatus(state, self.context, description))
        except ShipstepError as error:
            log.warning(
                "commit status not set",
                extra={"fields": {"revision": revision, "error": error.message}},
            )
