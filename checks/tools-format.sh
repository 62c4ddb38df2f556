#!/usr/bin/env bash
# The C sources follow .clang-format (the house style: `make format` applies it). A file
# that drifts from it fails here with the diff clang-format would apply, so the style is
# kept by a check, not by memory.
. "$(dirname "$0")/lib.sh"

command -v clang-format >/dev/null 2>&1 ||
    skip_all "no clang-format (Debian: apt-get install clang-format; .ci/run installs it)"
# The sources are the same in every build: the sanitizer pass leaves this to the plain one.
awk -v k="$READPATH_TIME_SCALE" 'BEGIN { exit !(k > 1) }' &&
    skip_all "stretched time (READPATH_TIME_SCALE=$READPATH_TIME_SCALE): the plain pass checks the format"

test_expect_success 'every C file under common/, stages/ and checks/ is as clang-format leaves it' '
    cd "$READPATH_ROOT"
    status=0
    for f in $(git ls-files "common/*.[ch]" "stages/*.[ch]" "checks/*.[ch]" "starter/*.[ch]" "exercises/*.[ch]" 2>/dev/null); do
        if ! clang-format --style=file "$f" | diff -u "$f" - >"$OLDPWD/diff" 2>&1; then
            echo "$f is not formatted (make format fixes it):"
            head -n 20 "$OLDPWD/diff"
            status=1
        fi
    done
    test "$status" -eq 0
'

test_expect_success 'negative control: a file with a wrongly indented line is reported' '
    printf "int f(void)\n{\n  return 0;\n}\n" >bad.c
    cp "$READPATH_ROOT/.clang-format" .
    if clang-format --style=file bad.c | cmp -s bad.c -; then
        echo "clang-format left a badly indented file as it was"
        false
    fi
'

test_done
