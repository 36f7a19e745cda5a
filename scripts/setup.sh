#!/bin/sh
# Installs what drl needs from Debian (only what is missing), then configures and builds.
# Works on a fresh Debian 12 as root. A second run installs nothing and only rebuilds.
#
#   scripts/setup.sh               what building and running drl need, build into ./build
#   scripts/setup.sh --with-tests  also what the tests and benchmarks drive (nginx, Caddy,
#                                  Redis, ...): scripts/test.sh and bench.sh ask for it
#   DRL_BUILD_DIR=dir scripts/setup.sh
set -eu

cd "$(dirname "$0")/.."
BUILD_DIR="${DRL_BUILD_DIR:-build}"
WITH_TESTS=0
case "${1:-}" in
  '') ;;
  --with-tests) WITH_TESTS=1 ;;
  *) echo "setup.sh: no option '$1' (only --with-tests)" >&2; exit 2 ;;
esac

# What the build and the daemon use, and the documented clients. Keep in sync with
# docs/operations.md. libgoogle-perftools-dev: tcmalloc for drld (meson -Dtcmalloc, on by
# default when it is installed). The gRPC, protobuf and yaml-cpp ones are for Envoy's rate
# limit service (meson -Denvoy, on by default when they are installed); python3-msgpack for
# docs/examples/check.py, python3-grpcio/-protobuf for tests/integration/rls_client.py.
PACKAGES="
  g++ meson ninja-build pkg-config git
  libuv1-dev libmsgpack-cxx-dev libxxhash-dev libcxxopts-dev libtomlplusplus-dev doctest-dev
  libsodium-dev prometheus-cpp-dev libhttp-parser-dev libgoogle-perftools-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libyaml-cpp-dev
  python3-msgpack python3-grpcio python3-protobuf
"
# What the tests and benchmarks drive or read: the proxies in front of drld, Redis to compare
# with, the rules' YAML, the HTTP client, network namespaces, the plots, HTTP/2 load (h2load),
# instruction counts (valgrind: scripts/check-cost.sh, scripts/drld-check-cost.sh).
TEST_PACKAGES="
  nginx caddy python3-yaml
  redis-server
  curl iproute2 gnuplot-nox nghttp2-client
  valgrind
"
[ "$WITH_TESTS" -eq 0 ] || PACKAGES="$PACKAGES $TEST_PACKAGES"

missing=""
for package in $PACKAGES; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $package"
  fi
done

if [ -n "$missing" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "drl setup: missing Debian packages:$missing" >&2
    echo "drl setup: run this script as root, or: apt-get install$missing" >&2
    exit 1
  fi
  echo "drl setup: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  # Quiet, but for meson's summary of the optional features (envoy, tcmalloc): what this build has.
  summary=$(meson setup "$BUILD_DIR" --buildtype=debugoptimized) || {
    echo "$summary" >&2
    exit 1
  }
  echo "$summary" | sed -n '/^  Features$/,/^$/p'
fi
ninja -C "$BUILD_DIR"
