"""`shipstep bump`: Update an image reference in a GitOps config repository and open a pull request."""

from __future__ import annotations

from typing import Any

import click

from shipstep.cli._app import cli_command, emit, state_of
from shipstep.forges.factory import make_forge
from shipstep.gitops.finders import SearchOptions, Target, ValuesKeys
from shipstep.gitops.git import Identity, Signing
from shipstep.gitops.message import DEFAULT_BODY, DEFAULT_TITLE
from shipstep.steps.bump import DEFAULT_BRANCH, DEFAULT_SUPERSEDE_COMMENT, BumpInputs, bump


@cli_command(
    "bump",
)
@click.option(
    "--repo",
    required=True,
    help="Clone URL of the config repository (or the path of a bare repository for --forge local).",
)
@click.option(
    "--image",
    required=True,
    help="The repository being bumped, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app.",
)
@click.option("--to", "to", required=True, help="The new reference, REPOSITORY:TAG@sha256:DIGEST.")
@click.option(
    "--path",
    "paths",
    multiple=True,
    help="Glob of files to search (repeatable; default **/*.yaml, **/*.yml, **/*.json).",
)
@click.option(
    "--forge",
    type=click.Choice(["auto", "github", "codecommit", "local"]),
    default="auto",
    show_default=True,
    help="Where the config repository lives: github, codecommit, local (bare repository path), or auto (from --repo).",
)
@click.option("--base", default="main", show_default=True, help="Branch the pull request targets.")
@click.option(
    "--name",
    help="Name of the bump (app/environment); default: the repository's last path component.",
)
@click.option(
    "--branch-template",
    default=DEFAULT_BRANCH,
    show_default=True,
    help="Branch name; {name}, {tag}, {short_digest}.",
)
@click.option(
    "--format",
    "format_",
    type=click.Choice(["tag-digest", "digest", "tag"]),
    default="tag-digest",
    show_default=True,
    help="How new references are written.",
)
@click.option(
    "--allow-no-match", is_flag=True, help="Succeed (operation skipped) when no reference is found."
)
@click.option(
    "--target",
    "targets",
    multiple=True,
    help="Explicit target [PART=]FILE#/json/pointer (PART: reference, tag, digest, tag-digest).",
)
@click.option(
    "--flux-policy",
    "flux_policies",
    multiple=True,
    help="Flux image policy (NAMESPACE:NAME) whose :tag/:digest markers belong to this image.",
)
@click.option(
    "--values-repository-key",
    default="image.repository",
    show_default=True,
    help="Dotted key path of the repository in Helm-style values.",
)
@click.option(
    "--values-tag-key",
    default="image.tag",
    show_default=True,
    help="Dotted key path of the tag in values.",
)
@click.option(
    "--values-digest-key",
    default="image.digest",
    show_default=True,
    help="Dotted key path of the digest in values.",
)
@click.option(
    "--values-registry-key",
    default="image.registry",
    show_default=True,
    help="Dotted key path of a separate registry host in values.",
)
@click.option(
    "--max-file-size",
    type=click.IntRange(1),
    default=10 * 1024 * 1024,
    show_default=True,
    help="Largest config file read, in bytes.",
)
@click.option(
    "--title-template",
    default=DEFAULT_TITLE,
    show_default=True,
    help="Pull request title ($name, $tag, $short_digest, $image, $reference ...).",
)
@click.option(
    "--body-template",
    default=DEFAULT_BODY,
    help="Pull request body ($changes, $digest, $signature, $links ...).",
)
@click.option("--label", "labels", multiple=True, help="Label for a new pull request (repeatable).")
@click.option(
    "--reviewer",
    "reviewers",
    multiple=True,
    help="Reviewer (user, or ORG/TEAM) for a new pull request.",
)
@click.option("--draft", is_flag=True, help="Open the pull request as a draft.")
@click.option(
    "--auto-merge",
    type=click.Choice(["merge", "squash", "rebase"]),
    help="Enable auto-merge with this method (GitHub).",
)
@click.option("--no-supersede", is_flag=True, help="Leave older open bumps of the same name open.")
@click.option(
    "--supersede-comment",
    default=DEFAULT_SUPERSEDE_COMMENT,
    show_default=True,
    help="Comment on a superseded pull request ({number}, {url}, {image}, {reference}).",
)
@click.option("--author-name", default="shipstep", show_default=True, help="Commit author name.")
@click.option(
    "--author-email",
    default="shipstep@users.noreply.github.com",
    show_default=True,
    help="Commit author email.",
)
@click.option(
    "--signing-key",
    help="Sign the commit: an SSH key file, or a GPG key id with --signing-format openpgp.",
)
@click.option(
    "--signing-format",
    type=click.Choice(["ssh", "openpgp"]),
    default="ssh",
    show_default=True,
    help="ssh: --signing-key is an SSH key file; openpgp: a GPG key id.",
)
@click.option(
    "--signature-status", help="Signature status line for the PR body (from the sign step)."
)
@click.option(
    "--token", envvar="GITHUB_TOKEN", help="Forge token (default: $GITHUB_TOKEN). Never printed."
)
@click.option(
    "--api-url", help="GitHub API URL (default: $GITHUB_API_URL or https://api.github.com)."
)
@click.option("--forge-repository", help="OWNER/NAME on GitHub, or the CodeCommit repository name.")
@click.option("--region", help="AWS region of the CodeCommit repository.")
@click.option(
    "--push-attempts",
    type=click.IntRange(1, 10),
    default=4,
    show_default=True,
    help="Attempts (clone, edit, push) when the branch moves concurrently.",
)
@click.pass_context
def command(ctx: click.Context, /, **options: Any) -> None:
    """Update an image reference in a GitOps config repository and open a pull request."""
    o = options
    state = state_of(ctx)
    provenance = state.runtime.provenance()
    author = Identity(str(o["author_name"]), str(o["author_email"]))
    search_options = SearchOptions(
        values_keys=ValuesKeys(
            str(o["values_repository_key"]),
            str(o["values_tag_key"]),
            str(o["values_digest_key"]),
            str(o["values_registry_key"]),
        ),
        flux_policies=frozenset(o["flux_policies"]),
        targets=tuple(Target.parse(t) for t in o["targets"]),
    )
    signing = Signing(str(o["signing_format"]), str(o["signing_key"])) if o["signing_key"] else None
    source = provenance.revision
    if provenance.source_url and provenance.revision:
        source = f"{provenance.source_url.removesuffix('.git')}/commit/{provenance.revision}"
    inputs = BumpInputs(
        repo=str(o["repo"]),
        image=str(o["image"]),
        to=str(o["to"]),
        paths=tuple(o["paths"]),
        base=str(o["base"]),
        name=o["name"] or None,
        branch_template=str(o["branch_template"]),
        format=str(o["format_"]),
        allow_no_match=bool(o["allow_no_match"]),
        options=search_options,
        max_file_bytes=int(o["max_file_size"]),
        title_template=str(o["title_template"]),
        body_template=str(o["body_template"]),
        labels=tuple(o["labels"]),
        reviewers=tuple(o["reviewers"]),
        draft=bool(o["draft"]),
        auto_merge=o["auto_merge"] or None,
        supersede=not o["no_supersede"],
        supersede_comment=str(o["supersede_comment"]),
        author=author,
        signing=signing,
        source=source,
        run=provenance.run_url,
        signature=o["signature_status"] or None,
        push_attempts=int(o["push_attempts"]),
    )
    token = o["token"] or None
    if token:
        state.reporter.mask(str(token))
    forge = make_forge(
        str(o["forge"]),
        inputs.repo,
        o["forge_repository"] or None,
        token,
        o["api_url"] or None,
        o["region"] or None,
        (author.name, author.email),
    )
    emit(ctx, bump(inputs, forge, state.reporter))
