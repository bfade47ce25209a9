#!/usr/bin/env bash
# Which syscalls come and go between recordings of the same workload (root; sysallow built):
#   sudo bench/timing-paths.sh [path/to/sysallow] [N]
# For each end-to-end workload, N plain recordings on an idle machine and N with --stress;
# prints, per workload and way, the syscalls only some recordings saw ("poll 7/8"). This is
# the measurement behind the timing classes (README: Paths a recording did not take). For a
# container, see `which_calls_come_and_go_between_plain_recordings_of_a_container` in
# sysallow/tests/e2e/plain_record.rs.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
S="${1:-$root/target/debug/sysallow}"
N="${2:-8}"
work="$(mktemp -d /tmp/sysallow-timing.XXXXXX)"
trap 'rm -rf "$work"' EXIT
cd "$work"
seq 1 300000 > f && xz -T2 -k f
seq 1 3000000 > big
printf 'pear\napple\nfig\napple\nkiwi\n' > words
measure() {
  local name="$1" flags="$2"; shift 2
  local dir="rec-$name${flags:+-stress}"
  mkdir -p "$dir"
  for i in $(seq 1 "$N"); do
    # shellcheck disable=SC2086
    "$S" record $flags --recording "$dir/$i.json" -- "$@" >/dev/null 2>&1 || true
  done
  python3 - "$name${flags:+ (--stress)}" "$N" "$dir"/*.json <<'PY'
import collections, json, sys
name, n = sys.argv[1], int(sys.argv[2])
seen = collections.Counter()
for path in sys.argv[3:]:
    for abi, rec in json.load(open(path))["abis"].items():
        for syscall in rec["syscalls"]:
            seen[syscall] += 1
some = ", ".join(f"{s} {k}/{n}" for s, k in sorted(seen.items()) if k < n) or "none"
always = sum(1 for k in seen.values() if k == n)
print(f"{name}: {always} in every recording; in some only: {some}")
PY
}
for flags in "" "--stress"; do
  measure xz-pipeline "$flags" sh -c 'xz -dc f.xz | wc -l'
  measure xz-T2 "$flags" sh -c 'xz -T2 -c big | wc -c'
  measure sort-pipeline "$flags" sh -c 'sort words | uniq -c | sort -rn | head -3'
  measure tar-gzip "$flags" sh -c 'tar cf - /usr/include/linux 2>/dev/null | gzip -c | wc -c'
  measure example-suite "$flags" "$root/examples/wordfreq/run-tests.sh"
done
