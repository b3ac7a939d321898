#!/bin/sh
# Serve /app/www on port 8080 in the foreground (PID 1 in the container).
exec httpd -f -v -p "${PORT:-8080}" -h /app/www
