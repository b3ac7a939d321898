"""Choosing and constructing the forge that hosts a config repository."""

from __future__ import annotations

import os
from pathlib import Path

from shipstep.errors import InputError
from shipstep.forges.interface import Forge


def make_forge(
    kind: str,
    repo: str,
    forge_repository: str | None,
    token: str | None,
    api_url: str | None,
    region: str | None,
    author: tuple[str, str],
) -> Forge:
    """The forge hosting `repo`; `kind` is github, codecommit, local or auto
    (guessed from the URL, or local for an existing path). Clients are
    imported only for the forge in use."""
    if kind == "auto":
        if "github.com" in repo or (forge_repository and api_url):
            kind = "github"
        elif "codecommit" in repo:
            kind = "codecommit"
        elif Path(repo).exists():
            kind = "local"
        else:
            raise InputError(
                f"Cannot tell which forge hosts {repo!r}.",
                hint="Pass --forge github, codecommit or local.",
            )
    if kind == "github":
        from shipstep.forges.github import DEFAULT_API, GitHubForge, repository_from_url

        name = forge_repository or repository_from_url(repo)
        if not name:
            raise InputError(
                "The GitHub repository (OWNER/NAME) of the config repository is unknown.",
                hint="Pass --forge-repository OWNER/NAME.",
            )
        return GitHubForge(
            name, token or "", api_url=api_url or os.environ.get("GITHUB_API_URL") or DEFAULT_API
        )
    if kind == "codecommit":
        from shipstep.forges.codecommit import CodeCommitForge

        name = forge_repository or repo.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
        return CodeCommitForge(name, region=region, author=author)
    from shipstep.forges.local import LocalForge

    return LocalForge(Path(repo))
