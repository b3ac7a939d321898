"""`python -m tests.kube_standin --port N [--kubeconfig PATH]`: serve until interrupted.

The request log is at `GET /_standin/requests` (`DELETE` clears it) and
`POST /_standin/reset` starts over with fresh objects.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import tempfile
import threading
from pathlib import Path

from tests.kube_standin.standin import KubeStandin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.kube_standin", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free one)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--kubeconfig", type=Path, help="where to write the kubeconfig (default: a temporary file)"
    )
    args = parser.parse_args(argv)
    kubeconfig = args.kubeconfig or Path(tempfile.mkdtemp(prefix="kube-standin-")) / "kubeconfig"
    standin = KubeStandin(kubeconfig, host=args.host, port=args.port)
    print(f"kube stand-in serving {standin.url}; KUBECONFIG={standin.kubeconfig}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()
    standin.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
