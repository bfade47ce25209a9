#!/usr/bin/env bash
# The README's "Paths a recording did not take" tables, reproduced (root; sysallow built):
#   sudo bench/unseen-paths.sh [path/to/sysallow]
# 1. For each way of recording, 8 recordings of `xz -dc f.xz | wc -l` on an idle machine:
#    did the recording see poll, and how many of 20 runs under its profile, with every core
#    busy, print the right count.
# 2. Profile sizes, in allowed names, for the end-to-end workloads recorded the README's way.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
S="${1:-$root/target/debug/sysallow}"
work="$(mktemp -d /tmp/sysallow-unseen.XXXXXX)"
busy=()
cleanup() { for pid in "${busy[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
seq 1 300000 > f && xz -T2 -k f
printf 'pear\napple\nfig\napple\nkiwi\n' > words
allowed() {
  python3 -c "import json,sys; p=json.load(open(sys.argv[1]));
print(len({n for r in p['syscalls'] if r['action']=='SCMP_ACT_ALLOW' for n in r['names']}))" "$1"
}

echo "| recorded with | recordings that saw poll | profiles that ran 20/20 busy |"
for flags in "" "--stress" "--repeat 3 --stress" "--imports allow"; do
  seen=0; whole=0
  for i in $(seq 1 8); do
    # shellcheck disable=SC2086
    "$S" record $flags -o p.json --recording r.json -- sh -c 'xz -dc f.xz | wc -l' >/dev/null 2>&1
    python3 -c "import json,sys; r=json.load(open('r.json'));
sys.exit(0 if 'poll' in r['abis']['x86_64']['syscalls'] else 1)" && seen=$((seen + 1))
    for cpu in $(seq "$(nproc)"); do (while :; do :; done) & busy+=($!); done
    good=0
    for j in $(seq 1 20); do
      [ "$("$S" run --profile p.json -- sh -c 'xz -dc f.xz | wc -l' 2>/dev/null)" = 300000 ] \
        && good=$((good + 1))
    done
    for pid in "${busy[@]}"; do kill "$pid"; wait "$pid" 2>/dev/null || true; done; busy=()
    [ "$good" = 20 ] && whole=$((whole + 1))
  done
  echo "| \`record ${flags}\` | $seen of 8 | $whole of 8 |"
done

echo
echo "| workload | observed | observations only | default | --imports allow |"
measure() {
  local name="$1"; shift
  "$S" record --repeat 3 --stress --recording w.rec.json -- "$@" >/dev/null 2>&1
  local observed
  observed=$(python3 -c "import json; r=json.load(open('w.rec.json'));
print(sum(len(a['syscalls']) for a in r['abis'].values()))")
  "$S" generate w.rec.json --no-essentials --no-companions -o bare.json 2>/dev/null
  "$S" generate w.rec.json -o default.json 2>/dev/null
  "$S" generate w.rec.json --imports allow -o allow.json 2>/dev/null
  echo "| $name | $observed | $(allowed bare.json) | $(allowed default.json) | $(allowed allow.json) |"
}
measure "\`sort \\| uniq -c \\| sort -rn \\| head\`" sh -c 'sort words | uniq -c | sort -rn | head -3'
measure "\`xz -dc \\| wc -l\`" sh -c 'xz -dc f.xz | wc -l'
measure "the example app's test suite" "$root/examples/wordfreq/run-tests.sh"
measure "\`tar \\| gzip \\| wc -c\`" sh -c 'tar cf - /usr/include/linux 2>/dev/null | gzip -c | wc -c'
