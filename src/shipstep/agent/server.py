"""The agent's HTTP endpoints: `/metrics` (Prometheus), `/healthz` (the loop
is alive), `/readyz` (a reconcile has reached the cluster) and
`POST /webhook` (GitHub push events, `X-Hub-Signature-256` checked; a push
to the watched branch triggers an immediate sync)."""

from __future__ import annotations

import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shipstep.agent.loop import Agent
from shipstep.agent.source import push_ref, verify_webhook

log = logging.getLogger("shipstep.agent")
MAX_WEBHOOK_BODY = 5 << 20  # GitHub caps payloads at 25 MiB; pushes are far smaller


def make_server(
    agent: Agent, host: str, port: int, webhook_secret: bytes | None
) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # requests are not logged (probes would flood the log)

        def _send(
            self, code: int, body: bytes, content_type: str = "text/plain; charset=utf-8"
        ) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._send(200, generate_latest(agent.metrics.registry), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                stale = time.monotonic() - agent.heartbeat > 3 * agent.config.interval_seconds + 600
                self._send(503 if stale else 200, b"stale\n" if stale else b"ok\n")
            elif self.path == "/readyz":
                self._send(200 if agent.ready else 503, b"ok\n" if agent.ready else b"not ready\n")
            else:
                self._send(404, b"not found\n")

        def do_POST(self) -> None:
            if self.path != "/webhook" or webhook_secret is None:
                self._send(404, b"not found\n")
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_WEBHOOK_BODY:
                self._send(413, b"payload too large\n")
                return
            body = self.rfile.read(length)
            if not verify_webhook(webhook_secret, body, self.headers.get("X-Hub-Signature-256")):
                log.warning(
                    "webhook signature invalid", extra={"fields": {"peer": self.client_address[0]}}
                )
                self._send(401, b"invalid signature\n")
                return
            event = self.headers.get("X-GitHub-Event", "")
            if event == "ping":
                self._send(200, b"pong\n")
                return
            if event != "push" or push_ref(body) != f"refs/heads/{agent.config.branch}":
                self._send(202, b"ignored\n")
                return
            agent.trigger.set()
            self._send(202, b"sync triggered\n")

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server


def serve_in_background(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    return thread
