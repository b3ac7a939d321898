"""HTTP to registries: endpoints, TLS policy, authentication, retries.

`Transport.request(method, host, path_or_url, scopes=...)` sends one logical
request to a registry host and returns the `requests.Response` for any
status the caller must interpret (2xx, 404, 4xx registry errors). It:

- picks the base URL: an explicit endpoint override for the host (tests map
  an ECR host to a local registry), plain HTTP for loopback hosts (as the
  Docker engine does), HTTPS without certificate verification then HTTP for
  `insecure` hosts, verified HTTPS everywhere else;
- authenticates on a 401 challenge (Basic, or the Bearer token flow from
  `WWW-Authenticate`, tokens cached per scope until they expire), and turns a
  refused login into a `ShipstepError` naming the credential source;
- retries 429 and 5xx answers and connection failures with exponential
  backoff, honouring `Retry-After`, when the body can be re-created
  (`body` is bytes or a zero-argument factory);
- counts requests and uploaded bytes in `stats` (for benchmarks and tests).
"""

from __future__ import annotations

import random
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

import requests
import requests.adapters
import urllib3

from shipstep.errors import ShipstepError
from shipstep.oci.auth import Anonymous, CredentialProvider, Credentials, parse_challenge
from shipstep.oci.reference import is_loopback
from shipstep.progress import NullReporter, Reporter

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
Body = bytes | Callable[[], IO[bytes] | Iterable[bytes] | bytes] | None


@dataclass
class TransportStats:
    requests: int = 0
    by_method: Counter[str] = field(default_factory=Counter)
    bytes_uploaded: int = 0
    retries: int = 0

    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, method: str | None = None, uploaded: int = 0, retry: bool = False) -> None:
        with self.lock:
            if method is not None:
                self.requests += 1
                self.by_method[method] += 1
            self.bytes_uploaded += uploaded
            self.retries += int(retry)

    def reset(self) -> None:
        self.requests = 0
        self.by_method.clear()
        self.bytes_uploaded = 0
        self.retries = 0


@dataclass
class _Token:
    value: str
    expires: float


class _CountingReader:
    """A file-like body that counts bytes as requests streams them."""

    def __init__(
        self,
        inner: IO[bytes] | _ChunkReader,
        stats: TransportStats,
        length: int | None,
        progress: Callable[[int], object] | None = None,
    ) -> None:
        self._inner = inner
        self._stats = stats
        self._length = length
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        chunk = self._inner.read(size)
        self._stats.count(uploaded=len(chunk))
        if self._progress is not None:
            self._progress(len(chunk))
        return chunk

    def __len__(self) -> int:
        return self._length or 0

    def close(self) -> None:
        close = getattr(self._inner, "close", None)
        if close is not None:
            close()


class _BulkAdapter(requests.adapters.HTTPAdapter):
    """Sends request bodies in 1 MiB writes (urllib3 defaults to 16 KiB),
    which matters when a layer streams through."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["blocksize"] = 1 << 20
        super().init_poolmanager(*args, **kwargs)


class Transport:
    def __init__(
        self,
        credentials: CredentialProvider | None = None,
        *,
        endpoints: Mapping[str, str] | None = None,
        insecure: Iterable[str] = (),
        retries: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: tuple[float, float] = (10.0, 300.0),
        reporter: Reporter | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.credentials = credentials or Anonymous()
        self.endpoints = {k: v.rstrip("/") for k, v in (endpoints or {}).items()}
        self.insecure = frozenset(insecure)
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.reporter = reporter or NullReporter()
        if session is None:
            session = requests.Session()
            adapter = _BulkAdapter(pool_maxsize=16)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self.session = session
        self.session.headers["User-Agent"] = "shipstep"
        self.sleep = sleep
        self.stats = TransportStats()
        self._base: dict[str, str] = {}
        self._challenge: dict[str, tuple[str, dict[str, str]]] = {}
        self._tokens: dict[tuple[str, tuple[str, ...]], _Token] = {}
        self._creds: dict[str, tuple[Credentials | None, float]] = {}
        self.credential_ttl = 300.0

    # -- endpoints -----------------------------------------------------------

    def base_url(self, host: str) -> str:
        if host in self._base:
            return self._base[host]
        if host in self.endpoints:
            url = self.endpoints[host]
        elif is_loopback(host):
            url = f"http://{host}"
        elif host in self.insecure:
            url = self._probe_insecure(host)
        else:
            url = f"https://{host}"
        self._base[host] = url
        return url

    def _verify(self, url: str) -> bool:
        return urlsplit(url).netloc not in self.insecure

    def _probe_insecure(self, host: str) -> str:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                self.session.get(f"https://{host}/v2/", verify=False, timeout=self.timeout)
            return f"https://{host}"
        except requests.RequestException:
            return f"http://{host}"

    # -- auth ----------------------------------------------------------------

    def _credentials(self, host: str) -> Credentials | None:
        # Providers are asked again after a while so that a long-running
        # process (the agent) picks up refreshed ECR tokens and new logins.
        cached = self._creds.get(host)
        if cached is None or cached[1] < time.monotonic():
            found = self.credentials.credentials(host)
            if found is not None:
                self.reporter.mask(found.password)
                if found.identity_token:
                    self.reporter.mask(found.identity_token)
            cached = (found, time.monotonic() + self.credential_ttl)
            self._creds[host] = cached
        return cached[0]

    def forget_credentials(self, host: str) -> None:
        self._creds.pop(host, None)
        self._tokens = {k: v for k, v in self._tokens.items() if k[0] != host}

    def _auth_header(self, host: str, scopes: tuple[str, ...]) -> str | None:
        known = self._challenge.get(host)
        if known is None:
            return None
        scheme, params = known
        creds = self._credentials(host)
        if scheme == "basic":
            if creds is None:
                return None
            return requests.auth._basic_auth_str(creds.username, creds.password)
        if scheme == "bearer":
            token = self._tokens.get((host, scopes))
            if token is None or token.expires <= time.monotonic():
                token = self._fetch_token(host, params, scopes, creds)
                self._tokens[(host, scopes)] = token
            return f"Bearer {token.value}"
        return None

    def _fetch_token(
        self, host: str, params: dict[str, str], scopes: tuple[str, ...], creds: Credentials | None
    ) -> _Token:
        realm = params.get("realm")
        if not realm:
            raise ShipstepError(f"Registry {host} asked for a bearer token without naming a realm.")
        query: list[tuple[str, str]] = []
        if params.get("service"):
            query.append(("service", params["service"]))
        query += [("scope", s) for s in scopes]
        try:
            if creds is not None and creds.identity_token:
                form = dict(query)
                form.update(
                    grant_type="refresh_token",
                    refresh_token=creds.identity_token,
                    client_id="shipstep",
                    scope=" ".join(scopes),
                )
                response = self.session.post(realm, data=form, timeout=self.timeout)
            else:
                auth = (creds.username, creds.password) if creds else None
                response = self.session.get(realm, params=query, auth=auth, timeout=self.timeout)
        except requests.RequestException as error:
            raise ShipstepError(
                f"Cannot reach the token service of registry {host}: {error.__class__.__name__}.",
                hint="Check the network and the registry's auth realm.",
            ) from None
        self.stats.count("GET")
        if response.status_code in (401, 403):
            raise self._refused(host, creds, response.status_code)
        if response.status_code != 200:
            raise ShipstepError(
                f"The token service of registry {host} answered HTTP {response.status_code}."
            )
        try:
            body = response.json()
            value = str(body.get("token") or body.get("access_token"))
            lifetime = float(body.get("expires_in") or 60)
        except (ValueError, AttributeError):
            raise ShipstepError(
                f"The token service of registry {host} answered without a token."
            ) from None
        self.reporter.mask(value)
        return _Token(value, time.monotonic() + max(lifetime - 10, 1))

    def _refused(self, host: str, creds: Credentials | None, status: int) -> ShipstepError:
        if creds is None:
            return ShipstepError(
                f"Registry {host} requires authentication (HTTP {status}) and no credentials were found "
                f"(looked in: {self.credentials.describe()}).",
                hint="Log in with `docker login`, configure a credential helper, or pass --username/--password.",
                title="Authentication required",
            )
        return ShipstepError(
            f"Registry {host} refused the credentials from {creds.source} (HTTP {status}).",
            hint="Check that these credentials are valid and allowed to access this repository.",
            title="Authentication refused",
        )

    # -- requests ------------------------------------------------------------

    def url(self, host: str, path_or_url: str) -> str:
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return urljoin(self.base_url(host) + "/", path_or_url.lstrip("/"))

    def request(
        self,
        method: str,
        host: str,
        path_or_url: str,
        *,
        scopes: tuple[str, ...] = (),
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | list[tuple[str, str]] | None = None,
        body: Body = None,
        length: int | None = None,
        stream: bool = False,
        retry: bool = True,
        allow_redirects: bool = True,
        progress: Callable[[int], object] | None = None,
    ) -> requests.Response:
        url = self.url(host, path_or_url)
        attempt = 0
        authenticated = False
        while True:
            attempt += 1
            send_headers = dict(headers or {})
            auth = self._auth_header(host, scopes)
            if auth:
                send_headers["Authorization"] = auth
            data = self._make_body(body, length, progress)
            if data is not None and length is not None:
                send_headers["Content-Length"] = str(length)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                    response = self.session.request(
                        method,
                        url,
                        headers=send_headers,
                        params=params,
                        data=data,
                        stream=stream,
                        timeout=self.timeout,
                        verify=self._verify(url),
                        allow_redirects=allow_redirects,
                    )
            except requests.RequestException as error:
                _close(data)
                self.stats.count(method)
                if not retry:
                    raise RetryableError(_reason(error)) from None
                if attempt > self.retries:
                    raise ShipstepError(
                        f"Cannot reach registry {host} ({self.base_url(host)}): {_reason(error)}.",
                        hint="Check the registry address, the network, and --insecure-registry for registries without TLS.",
                        title="Registry unreachable",
                    ) from None
                self._wait(attempt, None)
                continue
            _close(data)
            self.stats.count(method)
            if response.status_code == 401:
                challenge = response.headers.get("WWW-Authenticate", "")
                response.close()
                scheme, challenge_params = parse_challenge(challenge)
                if scheme not in ("basic", "bearer"):
                    raise self._refused(host, self._credentials(host), 401)
                if not authenticated:
                    self._creds.pop(host, None)  # re-read: a cached login may have expired
                creds = self._credentials(host)
                if authenticated and challenge_params.get("error") == "insufficient_scope":
                    raise ShipstepError(
                        f"Registry {host} denied access ({challenge_params.get('scope') or ', '.join(scopes)})"
                        + (
                            f" to the credentials from {creds.source}."
                            if creds
                            else " without credentials."
                        ),
                        hint="Grant these credentials pull (and for publishing, push) access to the repository.",
                        title="Access denied",
                    )
                if authenticated or (creds is None and scheme == "basic"):
                    raise self._refused(host, creds, 401)
                if challenge_params.get("scope"):
                    merged = set(scopes) | set(challenge_params["scope"].split(" "))
                    scopes = tuple(sorted(merged))
                self._challenge[host] = (scheme, challenge_params)
                self._tokens.pop((host, scopes), None)
                authenticated = True
                attempt -= 1
                continue
            if response.status_code in RETRY_STATUSES and retry and attempt <= self.retries:
                wait = _retry_after(response)
                response.close()
                self._wait(attempt, wait)
                continue
            return response

    def _make_body(
        self, body: Body, length: int | None, progress: Callable[[int], object] | None = None
    ) -> Any:
        if body is None:
            return None
        if isinstance(body, bytes):
            self.stats.count(uploaded=len(body))
            return body
        produced = body()
        if isinstance(produced, bytes):
            self.stats.count(uploaded=len(produced))
            return produced
        if hasattr(produced, "read"):
            return _CountingReader(produced, self.stats, length, progress)  # type: ignore[arg-type]
        return _CountingReader(_ChunkReader(produced), self.stats, length, progress)

    def _wait(self, attempt: int, retry_after: float | None) -> None:
        self.stats.count(retry=True)
        delay = min(self.max_backoff, self.backoff * (2 ** (attempt - 1)))
        delay *= 0.5 + random.random() / 2  # noqa: S311 - jitter, not crypto
        if retry_after is not None:
            delay = min(max(retry_after, delay), self.max_backoff * 4)
        self.reporter.log(f"registry busy or failing; retrying in {delay:.1f}s")
        self.sleep(delay)


class RetryableError(Exception):
    """A transient failure the caller can recover from by starting over."""


def _close(body: object) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        close()


class _ChunkReader:
    """`read(n)` over an iterable of chunks, so that requests sends a
    Content-Length body (registries such as ECR refuse chunked encoding)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._chunk = b""
        self._offset = 0

    def read(self, size: int = -1) -> bytes:
        if self._offset >= len(self._chunk):
            self._chunk, self._offset = b"", 0
            for chunk in self._chunks:
                if chunk:
                    self._chunk = chunk
                    break
            if not self._chunk:
                return b""
        end = len(self._chunk) if size < 0 else self._offset + size
        piece = self._chunk[self._offset : end]
        self._offset += len(piece)
        return piece


def _reason(error: requests.RequestException) -> str:
    if isinstance(error, requests.exceptions.SSLError):
        return "TLS verification failed"
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return "connection timed out"
    if isinstance(error, requests.exceptions.ConnectionError):
        return "connection failed"
    if isinstance(error, requests.exceptions.Timeout):
        return "timed out"
    return error.__class__.__name__


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
