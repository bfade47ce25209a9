#!/usr/bin/env bash
# The README's "Paths a recording did not take" tables, reproduced (root; sysallow built):
#   sudo bench/unseen-paths.sh [path/to/sysallow]
# 1. For each way of recording, 8 recordings of `xz -dc f.xz | wc -l` on an idle machine:
#    did the recording see poll, and how many of 20 runs under its profile, with every core
#    busy, print the right count. The plain recording's profile is also generated again with
#    --no-timing-paths (the default before timing paths), from the same recording.
# 2. Profile sizes, in allowed names, for the end-to-end workloads, recorded plainly and the
#    README's way, and whether each stays within Docker's default.
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
# Runs of the pipeline under profile $1 with every core busy that print the right count.
busy_runs() {
  for cpu in $(seq "$(nproc)"); do (while :; do :; done) & busy+=($!); done
  local good=0
  for j in $(seq 1 20); do
    [ "$("$S" run --profile "$1" -- sh -c 'xz -dc f.xz | wc -l' 2>/dev/null)" = 300000 ] \
      && good=$((good + 1))
  done
  for pid in "${busy[@]}"; do kill "$pid"; wait "$pid" 2>/dev/null || true; done; busy=()
  echo "$good"
}

echo "| recorded with | recordings that saw poll | profiles that ran 20/20 busy |"
echo "| --- | ---: | ---: |"
for flags in "" "--stress" "--repeat 3 --stress" "--imports allow"; do
  seen=0; whole=0; whole_off=0
  for i in $(seq 1 8); do
    # shellcheck disable=SC2086
    "$S" record $flags -o p.json --recording r.json -- sh -c 'xz -dc f.xz | wc -l' >/dev/null 2>&1
    python3 -c "import json,sys; r=json.load(open('r.json'));
sys.exit(0 if 'poll' in r['abis']['x86_64']['syscalls'] else 1)" && seen=$((seen + 1))
    [ "$(busy_runs p.json)" = 20 ] && whole=$((whole + 1))
    if [ -z "$flags" ]; then
      "$S" generate r.json --no-timing-paths -o off.json 2>/dev/null
      [ "$(busy_runs off.json)" = 20 ] && whole_off=$((whole_off + 1))
    fi
  done
  echo "| \`record ${flags}\` | $seen of 8 | $whole of 8 |"
  if [ -z "$flags" ]; then
    echo "| \`record --no-timing-paths\` (the same recordings) | $seen of 8 | $whole_off of 8 |"
  fi
done

echo
echo "| workload | observed | observations only | essentials, companions (\`--no-timing-paths\`) | default | \`--imports allow\` | plain \`record\`, default | within Docker's default |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
measure() {
  local name="$1"; shift
  "$S" record --repeat 3 --stress --recording w.rec.json -- "$@" >/dev/null 2>&1
  "$S" record -o plain.json -- "$@" >/dev/null 2>&1
  local observed
  observed=$(python3 -c "import json; r=json.load(open('w.rec.json'));
print(sum(len(a['syscalls']) for a in r['abis'].values()))")
  "$S" generate w.rec.json --no-essentials --no-companions --no-timing-paths -o bare.json 2>/dev/null
  "$S" generate w.rec.json --no-timing-paths -o before.json 2>/dev/null
  "$S" generate w.rec.json -o default.json 2>/dev/null
  "$S" generate w.rec.json --imports allow -o allow.json 2>/dev/null
  local within=yes
  for p in default.json plain.json; do
    "$S" diff --against docker-default "$p" --fail-on risky >/dev/null 2>&1 || within=no
  done
  echo "| $name | $observed | $(allowed bare.json) | $(allowed before.json) | $(allowed default.json) | $(allowed allow.json) | $(allowed plain.json) | $within |"
}
measure "\`sort \\| uniq -c \\| sort -rn \\| head\`" sh -c 'sort words | uniq -c | sort -rn | head -3'
measure "\`xz -dc \\| wc -l\`" sh -c 'xz -dc f.xz | wc -l'
measure "the example app's test suite" "$root/examples/wordfreq/run-tests.sh"
measure "\`tar \\| gzip \\| wc -c\`" sh -c 'tar cf - /usr/include/linux 2>/dev/null | gzip -c | wc -c'
