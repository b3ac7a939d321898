"""The words of a bump: commit message, pull-request title and body.

Title and body come from `string.Template` templates (`$name`, `$image`,
`$tag`, `$digest`, `$short_digest`, `$reference`, `$base`, `$changes`,
`$source`, `$run`, `$signature`); a hidden marker at the end of the body
identifies shipstep's pull requests and the bump they belong to.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from string import Template

from shipstep.errors import InputError
from shipstep.gitops.finders import Found

DEFAULT_TITLE = "Bump $name to $tag ($short_digest)"
DEFAULT_BODY = """\
Bumps `$image` to `$reference`.

$changes

**Digest:** `$digest`
$signature
$links
"""
TRAILER = "Shipstep-Bump"
_MARKER = re.compile(r'<!-- shipstep:bump name="([^"]*)" change="([0-9a-f]*)" -->')


@dataclass(frozen=True)
class Context:
    name: str
    image: str
    reference: str
    tag: str
    digest: str
    base: str
    source: str | None = None  # source commit URL or id
    run: str | None = None  # CI run URL
    signature: str | None = None  # signature status line, when a policy was given


def _values(ctx: Context, found: Sequence[Found]) -> dict[str, str]:
    links = []
    if ctx.source:
        links.append(f"**Source:** {ctx.source}")
    if ctx.run:
        links.append(f"**Run:** {ctx.run}")
    return {
        "name": ctx.name,
        "image": ctx.image,
        "reference": ctx.reference,
        "tag": ctx.tag or ctx.digest[:19],
        "digest": ctx.digest,
        "short_digest": ctx.digest.split(":", 1)[-1][:12] if ctx.digest else "",
        "base": ctx.base,
        "changes": changes_table(found),
        "source": ctx.source or "",
        "run": ctx.run or "",
        "signature": f"**Signature:** {ctx.signature}" if ctx.signature else "",
        "links": "\n".join(links),
    }


def render(template: str, ctx: Context, found: Sequence[Found], what: str) -> str:
    try:
        return Template(template).substitute(_values(ctx, found))
    except (KeyError, ValueError) as error:
        raise InputError(
            f"The {what} template has an unknown or malformed placeholder: {error}.",
            hint="Use $name, $image, $reference, $tag, $digest, $short_digest, $base, $changes, $source, $run, $signature, $links ($$ for a dollar).",
        ) from None


def changes_table(found: Sequence[Found]) -> str:
    rows = ["| File | Line | Old | New |", "|---|---|---|---|"]
    for f in found:
        if f.edits:
            rows.append(f"| `{f.path}` | {f.line} | `{f.old}` | `{f.new}` |")
    return "\n".join(rows)


def marker(name: str, change: str) -> str:
    return f'<!-- shipstep:bump name="{name}" change="{change}" -->'


def parse_marker(body: str) -> tuple[str, str] | None:
    match = _MARKER.search(body or "")
    return (match.group(1), match.group(2)) if match else None


def pr_body(template: str, ctx: Context, found: Sequence[Found], change: str) -> str:
    return render(template, ctx, found, "body").rstrip() + "\n\n" + marker(ctx.name, change) + "\n"


def commit_message(ctx: Context, found: Sequence[Found]) -> str:
    olds = sorted({f.old for f in found if f.edits})
    lines = [f"Bump {ctx.name} to {ctx.tag or ctx.digest}", ""]
    lines.append(f"Image: {ctx.image}")
    for old in olds:
        lines.append(f"  {old} -> {ctx.reference}")
    lines.append(f"Digest: {ctx.digest}")
    files = sorted({f.path for f in found if f.edits})
    lines.append(f"Files: {', '.join(files)}")
    if ctx.source:
        lines.append(f"Source: {ctx.source}")
    if ctx.run:
        lines.append(f"Run: {ctx.run}")
    lines += ["", f"{TRAILER}: {ctx.name}"]
    return "\n".join(lines) + "\n"


def commit_bump_name(message: str) -> str | None:
    """The bump name of a commit shipstep made, else None."""
    for line in reversed(message.strip().splitlines()):
        if line.startswith(f"{TRAILER}: "):
            return line.split(": ", 1)[1].strip()
    return None
