"""OCI annotation labels added to every image (user values win).

https://github.com/opencontainers/image-spec/blob/main/annotations.md
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from shipstep.errors import InputError

SOURCE = "org.opencontainers.image.source"
REVISION = "org.opencontainers.image.revision"
CREATED = "org.opencontainers.image.created"
VERSION = "org.opencontainers.image.version"


def created_timestamp(environ: Mapping[str, str], now: datetime | None = None) -> str:
    """RFC 3339 UTC; `SOURCE_DATE_EPOCH` (reproducible builds) wins over the clock."""
    epoch = environ.get("SOURCE_DATE_EPOCH", "").strip()
    if epoch:
        try:
            moment = datetime.fromtimestamp(int(epoch), tz=UTC)
        except (ValueError, OverflowError, OSError) as error:
            raise InputError(
                f"SOURCE_DATE_EPOCH={epoch!r} is not a number of seconds since 1970.",
                hint="Set it to an integer, e.g. $(git log -1 --format=%ct), or unset it.",
            ) from error
    else:
        moment = now or datetime.now(tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def version_from_tags(tags: Sequence[str]) -> str | None:
    """The tag part of the first tag that is not `latest` (`app:1.2.3` -> `1.2.3`)."""
    for tag in tags:
        name = tag.split("@", 1)[0]
        last = name.rsplit("/", 1)[-1]
        if ":" in last:
            value = last.rsplit(":", 1)[1]
            if value != "latest":
                return value
    return None


def oci_labels(
    *,
    user: Mapping[str, str],
    tags: Sequence[str],
    source_url: str | None,
    revision: str | None,
    created: str,
) -> dict[str, str]:
    """The labels to set: the automatic OCI ones, then the user's over them."""
    labels: dict[str, str] = {CREATED: created}
    if source_url:
        labels[SOURCE] = source_url
    if revision:
        labels[REVISION] = revision
    version = version_from_tags(tags)
    if version:
        labels[VERSION] = version
    labels.update(user)
    return labels
