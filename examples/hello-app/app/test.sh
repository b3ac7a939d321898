#!/bin/sh
# The tests of hello-app, run inside the built image (network off: only the
# loopback interface). Writes a JUnit XML report to $1 (default
# /tmp/report.xml) and exits non-zero when a test fails.
report=${1:-/tmp/report.xml}
port=18080
cases=""
failures=0
total=0

record() { # name, failure message ("" when passed)
  total=$((total + 1))
  if [ -z "$2" ]; then
    cases="$cases<testcase classname=\"hello-app\" name=\"$1\"/>"
  else
    failures=$((failures + 1))
    cases="$cases<testcase classname=\"hello-app\" name=\"$1\"><failure message=\"$2\"/></testcase>"
    echo "FAIL $1: $2" >&2
  fi
}

# The page exists and says hello.
if grep -q "Hello from hello-app" /app/www/index.html; then
  record page_says_hello ""
else
  record page_says_hello "index.html does not contain the greeting"
fi

# The server starts and serves the page over HTTP.
PORT=$port sh /app/serve.sh >/tmp/httpd.log 2>&1 &
server=$!
body=""
for _ in 1 2 3 4 5 6 7 8 9 10; do
  body=$(wget -q -O - "http://127.0.0.1:$port/" 2>/dev/null) && break
  sleep 0.2
done
kill "$server" 2>/dev/null
case "$body" in
  *"Hello from hello-app"*) record serves_index_over_http "" ;;
  *) record serves_index_over_http "no greeting from http://127.0.0.1:$port/" ;;
esac

# An unknown path is a 404, not the index.
if wget -q -O /dev/null "http://127.0.0.1:$port/missing" 2>/dev/null; then
  record unknown_path_is_not_found "GET /missing succeeded"
else
  record unknown_path_is_not_found ""
fi

mkdir -p "$(dirname "$report")"
printf '<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="hello-app" tests="%s" failures="%s" errors="0" skipped="0">%s</testsuite>\n' \
  "$total" "$failures" "$cases" >"$report"
echo "hello-app: $((total - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
