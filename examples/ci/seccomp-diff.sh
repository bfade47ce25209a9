#!/bin/sh
# Record the test suite under sysallow, regenerate the seccomp profile, and diff it against the
# committed one. Writes the new profile and the diff (markdown for a pull-request comment, JSON
# for tools) to $OUT, prints the text diff, and exits:
#   0  no difference that $FAIL_ON selects
#   1  a difference that $FAIL_ON selects (default: risky): review it, then commit $OUT/new.json
#   2  error (sysallow failed, a file could not be read, or the test suite failed)
#
# Usage: seccomp-diff.sh [-- CMD [ARGS...]]      (default command: ./run-tests.sh)
#
# Environment:
#   SYSALLOW       the sysallow binary (default: sysallow on PATH)
#   PROFILE        the committed profile (default: seccomp/profile.json)
#   OUT            output directory (default: seccomp-diff)
#   FAIL_ON        never|any|added|risky (default: risky)
#   GENERATE_ARGS  extra flags for `sysallow generate` (e.g. "--runtime runc"), word-split
#   RECORDING      use this existing recording instead of recording now (no root needed:
#                  how to try the script locally, see README.md)
set -eu

SYSALLOW=${SYSALLOW:-sysallow}
PROFILE=${PROFILE:-seccomp/profile.json}
OUT=${OUT:-seccomp-diff}
FAIL_ON=${FAIL_ON:-risky}
GENERATE_ARGS=${GENERATE_ARGS:-}
RECORDING=${RECORDING:-}

if [ "${1:-}" = "--" ]; then
	shift
fi
if [ $# -eq 0 ]; then
	set -- ./run-tests.sh
fi

mkdir -p "$OUT"

if [ -z "$RECORDING" ]; then
	RECORDING=$OUT/new.rec.json
	# Recording loads eBPF programs: root (CAP_BPF, CAP_PERFMON). Under sudo, sysallow runs the
	# test suite as the user who ran sudo, and the files it writes belong to that user.
	SUDO=
	if [ "$(id -u)" -ne 0 ]; then
		SUDO=sudo
	fi
	echo "seccomp-diff: recording: $*" >&2
	if ! $SUDO "$SYSALLOW" record --recording "$RECORDING" -- "$@"; then
		echo "seccomp-diff: the test suite failed under sysallow record; no diff" >&2
		exit 2
	fi
fi

# Regenerate from the recording (with the same policy flags as the committed profile).
# shellcheck disable=SC2086 # GENERATE_ARGS is a list of flags on purpose
if ! "$SYSALLOW" generate "$RECORDING" -o "$OUT/new.json" $GENERATE_ARGS; then
	echo "seccomp-diff: sysallow generate failed" >&2
	exit 2
fi

# One run decides the status; the other formats are for the comment, for tools and the log.
status=0
"$SYSALLOW" diff "$PROFILE" "$OUT/new.json" --format markdown -o "$OUT/diff.md" \
	--fail-on "$FAIL_ON" || status=$?
if [ "$status" -gt 1 ]; then
	exit 2
fi
"$SYSALLOW" diff "$PROFILE" "$OUT/new.json" --format json -o "$OUT/diff.json"
"$SYSALLOW" diff "$PROFILE" "$OUT/new.json"

if [ "$status" -eq 1 ]; then
	echo "seccomp-diff: the new profile has changes selected by --fail-on $FAIL_ON" \
		"(see $OUT/diff.md). If they are intended, commit $OUT/new.json as $PROFILE." >&2
fi
exit "$status"
