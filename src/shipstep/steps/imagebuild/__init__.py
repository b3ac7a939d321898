"""Parts of the build step: Dockerfile scanning, labels, log streaming, the
builders (Docker engine, docker buildx), the test runner and JUnit parsing."""
