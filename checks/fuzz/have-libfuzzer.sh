#!/usr/bin/env bash
# Is libFuzzer's runtime there? clang links -fsanitize=fuzzer against libclang_rt.fuzzer,
# which Debian ships apart from clang (libclang-rt-NN-dev, only recommended by clang).
# Says which package to install when it is missing.
set -u
cc=${1:-clang}
probe=$(mktemp -d "${TMPDIR:-/tmp}/readpath-fuzzprobe.XXXXXX")
trap 'rm -rf "$probe"' EXIT
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe/t.c"
if "$cc" -fsanitize=fuzzer,address,undefined -o "$probe/t" "$probe/t.c" 2>"$probe/err"; then
    exit 0
fi
major=$("$cc" -dumpversion 2>/dev/null | cut -d. -f1)
echo "fuzz: $cc cannot link -fsanitize=fuzzer (libFuzzer's runtime is missing):" >&2
sed 's/^/    /' "$probe/err" | head -n 5 >&2
echo "fuzz: on Debian/Ubuntu install it with: apt-get install -y libclang-rt-${major:-14}-dev" >&2
exit 1
