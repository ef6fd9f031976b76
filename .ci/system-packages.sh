#!/usr/bin/env bash
# Install the system packages the local environment and the tests need, on Debian or Ubuntu
# (`make system-packages` runs this; safe to run twice: only what is missing is installed).
#
#   .ci/system-packages.sh         # install: apt on both; Chromium with apt on Debian, as a snap on Ubuntu
#   .ci/system-packages.sh plan    # print what this machine would get, install nothing
#
# Ubuntu ships Chromium only as a snap (its chromium-browser deb is a stub that installs the snap), so
# there Chromium and its driver are /snap/bin/chromium and /snap/bin/chromium.chromedriver, which
# tests/app/chromium.py looks for after Debian's /usr/bin/chromium and /usr/bin/chromedriver.
# OS_RELEASE (default /etc/os-release) says which system this is; the tests point it at fake files.
set -euo pipefail

# prometheus brings promtool (rule checks and unit tests); prometheus-alertmanager the local alert path.
# Like nginx, Debian starts both as services on their default ports; the local environment runs its own.
COMMON_PACKAGES=(nginx libnginx-mod-http-lua lua-resty-core wrk haproxy prometheus prometheus-alertmanager)
DEBIAN_CHROMIUM_PACKAGES=(chromium chromium-driver)
SNAP_CHROMIUM=/snap/bin/chromium
SUDO=${SUDO-$([ "$(id -u)" = 0 ] || echo sudo)}

os_release_value() { # KEY: its value in the os-release file, quotes removed (the file is KEY=value lines)
  { sed -n "s/^$1=//p" "${OS_RELEASE:-/etc/os-release}" 2>/dev/null || true; } | tr -d "\"'" | head -n 1
}

# debian, ubuntu or unsupported: ID first, then ID_LIKE (Linux Mint says "ubuntu debian": Ubuntu's packages).
os_family() {
  local os_id os_like
  os_id=$(os_release_value ID)
  os_like=" $(os_release_value ID_LIKE) "
  case "$os_id" in
    debian | ubuntu) echo "$os_id" ;;
    *)
      case "$os_like" in
        *" ubuntu "*) echo ubuntu ;;
        *" debian "*) echo debian ;;
        *) echo unsupported ;;
      esac
      ;;
  esac
}

missing_debs() { # PACKAGE...: those dpkg does not list as installed
  local package
  for package in "$@"; do
    dpkg-query -W -f='${Status}\n' "$package" 2>/dev/null | grep -q '^install ok installed' || echo "$package"
  done
}

fail() {
  echo "error: $*" >&2
  exit 1
}

family=$(os_family)
case "$family" in
  debian) debs=("${COMMON_PACKAGES[@]}" "${DEBIAN_CHROMIUM_PACKAGES[@]}") snaps=() ;;
  ubuntu) debs=("${COMMON_PACKAGES[@]}") snaps=(chromium) ;;
  *)
    name=$(os_release_value PRETTY_NAME)
    fail "${name:-this system} is neither Debian nor Ubuntu: install ${COMMON_PACKAGES[*]}, Chromium and chromedriver" \
      "yourself (set CHROMIUM and CHROMEDRIVER to them unless they are /usr/bin/chromium and /usr/bin/chromedriver)."
    ;;
esac

if [ "${1:-install}" = plan ]; then
  echo "os: $family"
  echo "apt: ${debs[*]}"
  echo "snap: ${snaps[*]}"
  exit 0
fi
[ "${1:-install}" = install ] || fail "unknown command '$1': use install (the default) or plan."

mapfile -t missing < <(missing_debs "${debs[@]}")
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || fail "missing packages (${missing[*]}) and no apt-get: install them yourself."
  echo "Installing with apt: ${missing[*]}"
  # On Ubuntu lua-resty-core, libnginx-mod-http-lua and wrk are in universe (enabled by default).
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Ubuntu: Chromium as a snap, unless it is there already or the user named their own.
if [ "${#snaps[@]}" -gt 0 ] && [ ! -x "$SNAP_CHROMIUM" ] && [ -z "${CHROMIUM:-}${CHROMEDRIVER:-}" ]; then
  command -v snap >/dev/null || fail "Ubuntu ships Chromium only as a snap, and snap is not available here:" \
    "install snapd (sudo apt-get install snapd) and rerun, or install Chromium and chromedriver another way" \
    "and set CHROMIUM and CHROMEDRIVER to them."
  echo "Installing with snap: ${snaps[*]}"
  $SUDO snap install "${snaps[@]}"
fi
