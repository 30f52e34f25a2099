#!/usr/bin/env bash
# Smoke test of `cbir tui` in a real 80×24 terminal (tmux), as a new user would use it:
# open a report (its report.json), check that the overall table shows Table 3's P@1 values
# (as table3_retrieval.csv, written next to it, has them) with the best one marked, visit
# every view, the query browser and the help, export a view, quit.
#
#   test/tui/smoke.sh [report dir]      (default runs/start; run from the project root)
#
# Prints the screen and exits 1 on the first failed check. Needs tmux.
set -euo pipefail

REPORT="${1:-runs/start}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
command -v tmux >/dev/null || { echo "smoke.sh: tmux is not installed (apt-get install -y tmux)" >&2; exit 2; }
[ -f "$REPORT/report.json" ] || { echo "smoke.sh: $REPORT/report.json not found: pass a report folder (cbir report --out <dir>, or cbir start; re-run an older one)" >&2; exit 2; }

S="cbir-tui-smoke-$$"
EXPORTS="$(mktemp -d)"
cleanup() { tmux kill-session -t "$S" 2>/dev/null || true; rm -rf "$EXPORTS"; }
trap cleanup EXIT

screen() { tmux capture-pane -p -t "$S"; }
fail() { echo "smoke.sh: FAILED: $1" >&2; echo "---- screen ----" >&2; screen >&2 || true; exit 1; }
# wait until the screen shows a fixed string (up to 30 s: the first start compiles TypeScript)
see() { for _ in $(seq 1 150); do screen | grep -qF -- "$1" && return 0; sleep 0.2; done; fail "expected \"$1\" on screen"; }
key() { tmux send-keys -t "$S" "$@"; sleep 0.1; }

# Without a terminal (in the background, meanwhile): exit code 2 and the equivalent cbir commands.
( set +e; node bin/cbir.js tui --report "$REPORT" </dev/null >"$EXPORTS/notty.out" 2>"$EXPORTS/notty.err"; echo $? >"$EXPORTS/notty.rc" ) &
NOTTY=$!

tmux -u new-session -d -s "$S" -x 80 -y 24 \
  "node bin/cbir.js tui --report '$REPORT' --export-dir '$EXPORTS'; echo TUI-EXIT=\$?; sleep 30"

# Overall: every model's micro and macro P@1 from table3_retrieval.csv, 3 decimals, as on screen.
see "Table 3: retrieval precision"
header=$(head -1 "$REPORT/table3_retrieval.csv")
col() { echo "$header" | tr ',' '\n' | grep -nx "$1" | cut -d: -f1; }
MI=$(col micro_p1); MA=$(col macro_p1)
best=""
while IFS=, read -r line; do
  model=$(echo "$line" | cut -d, -f1)
  p1=$(printf '%.3f' "$(echo "$line" | cut -d, -f"$MI")")
  m1=$(printf '%.3f' "$(echo "$line" | cut -d, -f"$MA")")
  screen | grep -E "(^| |›)$model +\*?$p1( |\$)" >/dev/null || fail "micro P@1 $p1 of $model (table3_retrieval.csv) not on its row"
  screen | grep -F "$m1" >/dev/null || fail "macro P@1 $m1 of $model not on screen"
  echo "ok: $model micro P@1 $p1, macro P@1 $m1"
done < <(tail -n +2 "$REPORT/table3_retrieval.csv")
best=$(tail -n +2 "$REPORT/table3_retrieval.csv" | cut -d, -f"$MI" | sort -g | tail -1)
see "*$(printf '%.3f' "$best")"
echo "ok: best micro P@1 $(printf '%.3f' "$best") marked *"

# several keys in one write (as a fast typist or `send-keys ll` sends them): each one moves
key ll; see "micro P@5 ="
key hh; see "micro P@1 ="
key Down; key Right; see "micro P@3 ="
echo "ok: keys sent together (ll, hh) each move the cursor"
key i; see "micro P@N with 95 % intervals"; see "95 % CI"
key i; see "macro P@N with 95 % intervals"
key i; see "Table 3: retrieval precision"

key 2; see "Table 4: P@1 per modality"
key 3; see "Table 9: micro P@1 per modality"
key 4; see "Table 10: P@1 per source dataset"
key 5; see "Table 5: embedding quality"
key 6
if [ -f "$REPORT/comparison.csv" ]; then see "Paired comparison"; else see "two or more models"; fi
echo "ok: every table view"

key 7; see "Query 1/"
screen | grep -qE "^ +1 [✓✗] " || fail "no top-1 match with a ✓/✗ mark"
key Right; see "Query 2/"
key ll; see "Query 4/"
key w
for _ in $(seq 1 50); do screen | grep -qE "top-1 ✗|every query's top-1" && break; sleep 0.2; done
screen | grep -qE "top-1 ✗|every query's top-1" || fail "w did not go to a query with a wrong top-1 match"
key m
echo "ok: query browser"

key 1; key e; key c
see "exported to"
[ -f "$EXPORTS/overall.csv" ] || fail "export file $EXPORTS/overall.csv missing"
cmp -s <(head -1 "$EXPORTS/overall.csv") <(echo "model,micro_p1,micro_p3,micro_p5,micro_p10,macro_p1,macro_p3,macro_p5,macro_p10") || fail "unexpected export header: $(head -1 "$EXPORTS/overall.csv")"
echo "ok: export to $EXPORTS/overall.csv"

key '?'; see "Keys"; see "export the current view"
key Escape; see "Table 3: retrieval precision"
key q; see "TUI-EXIT=0"
wait "$NOTTY" || true
[ "$(cat "$EXPORTS/notty.rc")" = 2 ] || { cat "$EXPORTS/notty.err" >&2; fail "without a TTY: exit code $(cat "$EXPORTS/notty.rc"), expected 2"; }
grep -q "cbir report --data .* --out " "$EXPORTS/notty.err" || { cat "$EXPORTS/notty.err" >&2; fail "without a TTY: no cbir report command printed"; }
if grep -qE -- "--out $REPORT( |\$)" "$EXPORTS/notty.err"; then cat "$EXPORTS/notty.err" >&2; fail "without a TTY: a suggested command writes into the finished report $REPORT"; fi
echo "ok: without a terminal: exit code 2 and the cbir report command"
echo "smoke.sh: all checks passed ($REPORT)"
