#!/bin/sh
# Installs what drl needs from Debian (only what is missing), then configures and builds.
# Works on a fresh Debian 12 as root. A second run installs nothing and only rebuilds.
#
#   scripts/setup.sh            build into ./build
#   DRL_BUILD_DIR=dir scripts/setup.sh
set -eu

cd "$(dirname "$0")/.."
BUILD_DIR="${DRL_BUILD_DIR:-build}"

# Everything the build, the daemon and the test suite use. Keep in sync with docs/operations.md.
# The gRPC, protobuf and yaml-cpp ones are for Envoy's rate limit service (meson -Denvoy, on by
# default when they are installed), and python3-grpcio/-protobuf for its test client.
PACKAGES="
  g++ meson ninja-build pkg-config git
  libuv1-dev libmsgpack-cxx-dev libxxhash-dev libcxxopts-dev libtomlplusplus-dev doctest-dev
  libsodium-dev prometheus-cpp-dev libhttp-parser-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libyaml-cpp-dev
  python3-msgpack python3-grpcio python3-protobuf
  nginx caddy python3-yaml
  redis-server
  curl iproute2 gnuplot-nox
"

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
  meson setup "$BUILD_DIR" --buildtype=debugoptimized >/dev/null
fi
ninja -C "$BUILD_DIR"
