#!/usr/bin/env bash
# Is libFuzzer's runtime there? clang links -fsanitize=fuzzer against libclang_rt.fuzzer,
# which Debian ships apart from clang (libclang-rt-NN-dev, only recommended by clang).
# Installs it when run as root with apt-get (as checks/deps.sh does for the rest);
# otherwise says which package to install.
set -u
cc=${1:-clang}
probe=$(mktemp -d "${TMPDIR:-/tmp}/readpath-fuzzprobe.XXXXXX")
trap 'rm -rf "$probe"' EXIT
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe/t.c"
links() { "$cc" -fsanitize=fuzzer,address,undefined -o "$probe/t" "$probe/t.c" 2>"$probe/err"; }
links && exit 0
major=$("$cc" -dumpversion 2>/dev/null | cut -d. -f1)
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "fuzz: installing libclang-rt-${major:-14}-dev (libFuzzer's runtime)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq "libclang-rt-${major:-14}-dev" >&2 && links && exit 0
fi
echo "fuzz: $cc cannot link -fsanitize=fuzzer (libFuzzer's runtime is missing):" >&2
sed 's/^/    /' "$probe/err" | head -n 5 >&2
echo "fuzz: on Debian/Ubuntu install it with: apt-get install -y libclang-rt-${major:-14}-dev" >&2
exit 1
