#!/usr/bin/env bash
# Installs what the build and the checks need, or says exactly how to.
# Used by `make check`, `make demo` and .ci/run, so a fresh Debian machine needs no
# set-up beyond `make`.
set -u
want_pkgs=()
have_lib() { pkg-config --exists libcjson 2>/dev/null; }
command -v cc >/dev/null 2>&1 || want_pkgs+=(build-essential)
command -v pkg-config >/dev/null 2>&1 || want_pkgs+=(pkg-config)
have_lib || want_pkgs+=(libcjson-dev)
command -v jq >/dev/null 2>&1 || want_pkgs+=(jq)
command -v prove >/dev/null 2>&1 || want_pkgs+=(perl)
for extra in "$@"; do
    case "$extra" in
    gnuplot) command -v gnuplot >/dev/null 2>&1 || want_pkgs+=(gnuplot-nox) ;;
    valgrind) command -v valgrind >/dev/null 2>&1 || want_pkgs+=(valgrind) ;;
    clang) command -v clang >/dev/null 2>&1 || want_pkgs+=(clang) ;;
    esac
done
[ ${#want_pkgs[@]} -eq 0 ] && exit 0
cmd="apt-get update && apt-get install -y ${want_pkgs[*]}"
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "deps: installing ${want_pkgs[*]} (missing) -> $cmd" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq "${want_pkgs[@]}" >&2 && exit 0
    echo "deps: apt-get failed; run as root: $cmd" >&2
    exit 1
fi
echo "deps: missing ${want_pkgs[*]}. Install them with:" >&2
echo "    sudo sh -c '$cmd'" >&2
exit 1
