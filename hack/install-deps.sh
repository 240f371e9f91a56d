#!/usr/bin/env bash
# Installs every Debian package promconf's build, tests and benchmarks need.
# Idempotent: prints nothing and touches nothing when all are present.
set -euo pipefail

# `--build`: only what building promconf needs (the Dockerfile's build stage).
toolchain=(build-essential cmake g++ clang libclang-rt-14-dev lld git pkg-config)
libraries=(
  libcurl4-openssl-dev libssl-dev zlib1g-dev libabsl-dev libyaml-cpp-dev
  prometheus-cpp-dev libcivetweb-dev rapidjson-dev libsimdjson-dev libre2-dev
  libzookeeper-mt-dev libgtest-dev libgmock-dev libbenchmark-dev
)
test_tools=(
  # real servers the integration tests start on loopback
  etcd-server etcd-client zookeeper prometheus openssl curl
  # Go test helpers: tests/tools/ (Prometheus' own YAML parsers: yaml.v2 for
  # its config, yaml.v3 for rule files) and tests/chart/helmrender (helm's
  # engine: sprig, sigs.k8s.io/yaml, a JSON-schema validator), from Debian
  # (GOPATH=/usr/share/gocode)
  golang-go golang-gopkg-yaml.v2-dev golang-gopkg-yaml.v3-dev
  golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev
  golang-github-xeipuuv-gojsonschema-dev
)
if [ "${1:-}" = "--build" ]; then
  packages=(build-essential cmake g++ pkg-config "${libraries[@]}")
else
  packages=("${toolchain[@]}" "${libraries[@]}" "${test_tools[@]}")
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if ! command -v kubectl >/dev/null 2>&1; then
  # Debian 12 has no kubectl package; the test that proves the fake API server
  # with kubectl skips itself when kubectl is absent.
  :
fi
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The packaged daemons must not start as services: tests start their own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
