#!/usr/bin/env bash
# What the tests need besides node_modules: a real nginx (the prober's tests probe one on loopback), cfn-lint
# 1.51 (the templates are linted in every Region) and moto 5.2 with its server (`npm run test:deploy` runs
# `cdk bootstrap` and `cdk deploy` against it). On Debian or Ubuntu, as root or with sudo, it installs what is
# missing; elsewhere it says exactly what to install, and fails.
set -euo pipefail
cd "$(dirname "$0")/.."

CFN_LINT_VERSION=1.51.0
# A private virtualenv, for machines where pip may not install into the system Python (PEP 668).
CFN_LINT_VENV=node_modules/.cache/cfn-lint

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"
  else return 1
  fi
}

on_debian() { [ -r /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; }

apt_updated=false
apt_install() {
  if [ "$apt_updated" = false ]; then as_root apt-get update -qq && apt_updated=true; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# moto, on the python3 the deploy test runs (MOTO_PYTHON, else python3 on PATH): what `npm run test:deploy`
# needs, and all it asks for (--moto).
require_moto() {
  local version=5.2.1 python="${MOTO_PYTHON:-python3}"
  if "$python" -c 'import moto, flask, werkzeug, boto3, sys; sys.exit(0 if moto.__version__.startswith("5.2.") else 1)' 2>/dev/null; then
    return 0
  fi
  if "$python" -m pip install --quiet --disable-pip-version-check "moto[server]==$version" >/dev/null 2>&1; then
    echo "test prerequisites: installed moto $version for $python"
    return 0
  fi
  echo "test prerequisites: moto 5.2 is missing. Install it: $python -m pip install 'moto[server]==$version'," \
    "or set MOTO_PYTHON to a Python that has it." >&2
  return 1
}
if [ "${1:-}" = "--moto" ]; then
  require_moto
  exit $?
fi

# nginx
nginx_bin="${NGINX_BIN:-/usr/sbin/nginx}"
if [ ! -x "$nginx_bin" ]; then
  if on_debian && apt_install nginx && [ -x "$nginx_bin" ]; then
    echo "test prerequisites: installed nginx from Debian's packages"
  else
    echo "test prerequisites: nginx is missing at $nginx_bin. Install it (Debian/Ubuntu: sudo apt-get install -y nginx;" \
      "macOS: brew install nginx, then NGINX_BIN=\$(command -v nginx) npm test; Fedora: sudo dnf install nginx)." >&2
    exit 1
  fi
fi
# The package starts a system nginx on :80 where it can; the tests run their own on free loopback ports.
if command -v systemctl >/dev/null 2>&1; then as_root systemctl stop nginx >/dev/null 2>&1 || true; fi
if [ -f /run/nginx.pid ]; then as_root "$nginx_bin" -s quit >/dev/null 2>&1 || true; fi

# cfn-lint
have_cfn_lint() { "$1" --version 2>/dev/null | grep -q "cfn-lint ${CFN_LINT_VERSION%.*}\."; }
if have_cfn_lint cfn-lint || have_cfn_lint "$CFN_LINT_VENV/bin/cfn-lint"; then exit 0; fi
if ! python3 -m venv --help >/dev/null 2>&1 && on_debian; then apt_install python3-venv || true; fi
if python3 -m venv "$CFN_LINT_VENV" >/dev/null 2>&1 &&
  "$CFN_LINT_VENV/bin/pip" install --quiet --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION" &&
  have_cfn_lint "$CFN_LINT_VENV/bin/cfn-lint"; then
  echo "test prerequisites: installed cfn-lint $CFN_LINT_VERSION in $CFN_LINT_VENV"
  exit 0
fi
rm -rf "$CFN_LINT_VENV"
echo "test prerequisites: cfn-lint ${CFN_LINT_VERSION%.*} is missing. Install it: pip install cfn-lint==$CFN_LINT_VERSION" \
  "(any Python >= 3.9), so that cfn-lint is on PATH." >&2
exit 1
