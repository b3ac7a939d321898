# The shipstep toolkit image: every step's GitHub action runs it.
# Build context must hold wheels in dist/wheels (scripts/build-image makes
# them), so the build needs no network beyond the base image.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

# git is needed by bump and the agent; the local Debian base already has it.
RUN if ! command -v git >/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends git openssh-client ca-certificates \
      && rm -rf /var/lib/apt/lists/*; \
    fi

COPY dist/wheels /tmp/wheels
RUN python3 -m venv /opt/shipstep \
    && /opt/shipstep/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheels shipstep \
    && rm -rf /tmp/wheels

RUN groupadd --gid 10001 shipstep && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp shipstep
USER 10001:10001
ENV PATH=/opt/shipstep/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
ENTRYPOINT ["/opt/shipstep/bin/shipstep"]
CMD ["--help"]
