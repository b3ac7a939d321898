"""Keyless signing: the one place that talks to Fulcio and Rekor.

On GitHub Actions with `permissions: id-token: write`, sigstore-python reads
the ambient OIDC token, gets a short-lived certificate from Fulcio for it,
signs the DSSE envelope and records it in Rekor. None of those services is
reachable in tests, so everything around this function (the statement, the
attachment, verification) is tested on its own.
"""

from __future__ import annotations

from sigstore.dsse import Statement
from sigstore.errors import Error as SigstoreError
from sigstore.models import ClientTrustConfig
from sigstore.oidc import IdentityError, IdentityToken, detect_credential
from sigstore.sign import SigningContext

from shipstep.errors import ShipstepError


def ambient_identity_token() -> IdentityToken:
    try:
        raw = detect_credential()
    except IdentityError as error:
        raise ShipstepError(
            f"Could not get an OIDC identity token for keyless signing: {error}.",
            hint="On GitHub Actions grant the job `permissions: id-token: write`.",
        ) from None
    if raw is None:
        raise ShipstepError(
            "Keyless signing needs an ambient OIDC identity and none was found.",
            hint="Run on GitHub Actions with `permissions: id-token: write`, or sign with --key.",
        )
    return IdentityToken(raw)


def sign_statement(statement: Statement) -> bytes:
    """The Sigstore bundle (JSON) of `statement`, signed keylessly."""
    token = ambient_identity_token()
    try:
        context = SigningContext.from_trust_config(ClientTrustConfig.production())
        with context.signer(token, cache=False) as signer:
            bundle = signer.sign_dsse(statement)
    except SigstoreError as error:
        raise ShipstepError(
            f"Keyless signing failed: {error}.",
            hint="Check that Fulcio and Rekor (sigstore.dev) are reachable from the runner.",
        ) from None
    return bundle.to_json().encode()
