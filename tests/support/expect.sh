# expect STATUS FRAGMENT -- ARGS...: runs `$cli ARGS...`, checks its exit status and that its
# output contains FRAGMENT; a mismatch is counted in $failures with the output's last lines.
# Sourced by the command-line checks, which set $cli and failures=0.
expect() {
  local status="$1" fragment="$2"
  shift 3
  local out rc
  out=$(timeout 120 "$cli" "$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$status" ] || [[ "$out" != *"$fragment"* ]]; then
    echo "FAIL: cotangent $* -> exit $rc (want $status), output lacks '$fragment':"
    echo "$out" | tail -5 | sed 's/^/    /'
    failures=$((failures + 1))
  fi
}
