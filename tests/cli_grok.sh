#!/bin/bash
# fpflow grok on a tiny modulus: the files of every run, a grokking step
# in each summary, the report's sentences, and the exit codes and messages
# of bad input.
# usage: bash cli_grok.sh /path/to/fpflow
set -u
FPFLOW=${1:?usage: cli_grok.sh /path/to/fpflow}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
FAILED=0

fail() {
  echo "FAIL: $*" >&2
  FAILED=1
}

# expect CODE PATTERN ARGS...: exit code CODE and PATTERN in the output.
expect() {
  local code=$1 pattern=$2
  shift 2
  local out rc
  out=$("$FPFLOW" grok "$@" 2>&1)
  rc=$?
  [ "$rc" -eq "$code" ] || fail "grok $* exited $rc, not $code: $out"
  grep -qF -- "$pattern" <<<"$out" || fail "grok $*: no '$pattern' in: $out"
}

# (a + b) mod 23 from 70% of the pairs groks within ~1000 steps (see
# tests/test_grok_train.c); two seeds, both arms, one thread.
cat >"$DIR/tiny.ini" <<'EOF'
[run]
steps = 1000
seeds = 1, 2
eval_every = 50
extra_steps = 100
threads = 1
[data]
p = 23
train_fraction = 0.7
[model]
embed_dim = 32
width = 128
[optim]
lr = 0.01
[monitor]
probe_size = 32
[reset]
warmup = 100
cooldown = 200
EOF
expect 0 "report.md" "$DIR/tiny.ini" -o "$DIR/out"
for run in seed1-baseline seed1-resets seed2-baseline seed2-resets; do
  d="$DIR/out/$run"
  for f in metrics.csv summary.json figure.png; do
    [ -s "$d/$f" ] || fail "$run: no $f"
  done
  head -c 8 "$d/figure.png" | od -An -c | grep -q "P   N   G" ||
    fail "$run: figure.png is not a PNG"
  head -1 "$d/metrics.csv" | grep -q \
    "^step,train_loss,test_loss,train_acc,test_acc,C,log_C,C_vel" ||
    fail "$run: metrics.csv header"
  grep -q '"grokking_step":[[:space:]]*[0-9]' "$d/summary.json" ||
    fail "$run: no grokking step in summary.json"
  grep -q '"status":[[:space:]]*"ok"' "$d/summary.json" ||
    fail "$run: status not ok"
  grep -q '"nearest_transition_minus_grokking"' "$d/summary.json" ||
    fail "$run: no transition distance in summary.json"
done
# Rows every 50 steps from 0; training stops 100 steps after grokking.
awk -F, 'NR > 1 && $1 % 50 != 0 { bad = 1 } END { exit bad }' \
  "$DIR/out/seed1-baseline/metrics.csv" || fail "rows not every 50 steps"
grok=$(grep -o '"grokking_step":[[:space:]]*[0-9]*' \
  "$DIR/out/seed1-baseline/summary.json" | grep -o '[0-9]*$')
last=$(tail -1 "$DIR/out/seed1-baseline/metrics.csv" | cut -d, -f1)
[ "$last" -eq $((grok + 100)) ] ||
  fail "last row at step $last, not grokking ($grok) + 100"
for f in config.ini report.md summary.json; do
  [ -s "$DIR/out/$f" ] || fail "no $f"
done
grep -q "Without resets: 2 of 2 runs grokked; median grokking step" \
  "$DIR/out/report.md" || fail "report: no baseline median"
grep -q "With resets: 2 of 2 runs grokked" "$DIR/out/report.md" ||
  fail "report: no resets median"
grep -q "^## Transitions and grokking" "$DIR/out/report.md" ||
  fail "report: no transitions section"

# The resolved configuration repeats the run's settings.
grep -q "^p = 23$" "$DIR/out/config.ini" || fail "config.ini: p"
grep -q "^seeds = 1, 2$" "$DIR/out/config.ini" || fail "config.ini: seeds"

# -q prints nothing on success.
out=$("$FPFLOW" grok "$DIR/tiny.ini" --set seeds=3 --set arms=off \
  --set steps=100 -q -o "$DIR/q" 2>&1)
[ -z "$out" ] || fail "-q printed: $out"

# Bad input: the key, value, file and line are named; exit 2.
expect 2 "p = 1: must be in 2..4096" --set p=1 -o "$DIR/bad"
expect 2 "train_fraction = 1" --set train_fraction=1 -o "$DIR/bad"
expect 2 "activation = 'tanh' must be relu, gelu or quadratic" \
  --set activation=tanh -o "$DIR/bad"
expect 2 "seeds = '1,x': 'x' is not a whole number" --set seeds=1,x \
  -o "$DIR/bad"
expect 2 "unknown key 'frobnicate'" --set frobnicate=1 -o "$DIR/bad"
expect 2 "arms = 'sometimes' must be both, off or on" --set arms=sometimes
expect 2 "arms = both needs monitor = true" --set monitor=false
printf '[data]\np = 23\n[model]\nwidth = wide\n' >"$DIR/bad.ini"
expect 2 "bad.ini line 4: width = 'wide' must be a whole number" \
  "$DIR/bad.ini"
printf '[nonsense]\nx = 1\n' >"$DIR/bad2.ini"
expect 2 "bad2.ini line 2: unknown section [nonsense]" "$DIR/bad2.ini"
expect 2 "missing.ini: No such file" "$DIR/missing.ini"
expect 2 "unknown option '--frobnicate'" --frobnicate
[ ! -e "$DIR/bad" ] || fail "bad input created the output directory"

# --help lists the keys with their defaults.
help=$("$FPFLOW" grok --help) || fail "--help exited non-zero"
for key in steps seeds arms p train_fraction batch_size width activation \
  lr weight_decay probe_size trigger C_threshold threshold_relative \
  alpha warmup cooldown; do
  grep -qE "^ +$key " <<<"$help" || fail "--help does not list $key"
done

exit $FAILED
