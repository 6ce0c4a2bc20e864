#!/usr/bin/env bash
# shellcheck disable=SC2317  # steps and traps call most functions indirectly
# Checks the README's quick start on a fresh Debian 12 machine: debootstraps a minimal bookworm root
# (cached between runs), copies a clean clone of the repository into it and, as root, runs
#   scripts/quickstart.sh test
#   scripts/quickstart.sh train --epochs 1 --limit 2000 [extra train flags]
# there, printing each step's result and keeping each step's full log.
#
# usage: scripts/fresh-machine-check.sh [options] [-- extra train flags]
#   --worktree          copy the working tree, uncommitted changes included (default: clone HEAD)
#   --repo DIR|URL      the repository to check (default: the one this script lives in)
#   --only test|train   run one step
#   --keep              keep the working root afterwards (default: remove it)
#   --refresh-base      debootstrap the cached base root again
# environment:
#   FRESH_ROOT_DIR      base root, working root and logs (default /var/tmp/cotangent-fresh)
#   FRESH_LOG_DIR       logs (default $FRESH_ROOT_DIR/logs; each run gets a folder, `latest` links it)
# Needs root (debootstrap, chroot, bind mounts) on a Debian host. Exits non-zero if any step fails.
set -euo pipefail

suite=bookworm
variant=minbase
train_args=(--epochs 1 --limit 2000)

say() { printf 'fresh-check: %s\n' "$*"; }
die() { printf 'fresh-check: error: %s\n' "$*" >&2; exit 1; }

# --- options ---------------------------------------------------------------------------------------
worktree=0 keep=0 refresh=0 only="" repo="" train_extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --worktree) worktree=1 ;;
    --keep) keep=1 ;;
    --refresh-base) refresh=1 ;;
    --only) [ $# -ge 2 ] || die "--only takes test or train"; only=$2; shift ;;
    --only=*) only=${1#--only=} ;;
    --repo) [ $# -ge 2 ] || die "--repo takes a directory or URL"; repo=$2; shift ;;
    --repo=*) repo=${1#--repo=} ;;
    -h | --help) sed -n '3,/^set -euo/{/^set -euo/d; s/^# \{0,1\}//; p}' "$0"; exit 0 ;;
    --) shift; train_extra=("$@"); break ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
case "$only" in "" | test | train) ;; *) die "--only takes test or train, not '$only'" ;; esac
[ "$(id -u)" -eq 0 ] || die "run as root: debootstrap, chroot and bind mounts need it"

if [ -z "$repo" ]; then
  repo=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
fi
if [ "$worktree" = 1 ]; then
  [ -d "$repo" ] || die "--worktree needs a local repository, not '$repo'"
  repo=$(git -C "$repo" rev-parse --show-toplevel)
fi

root_dir=$(realpath -m "${FRESH_ROOT_DIR:-/var/tmp/cotangent-fresh}")
# The mount bookkeeping below reads /proc/self/mountinfo, which escapes whitespace; and "/" would be fatal.
case "$root_dir" in / | *[[:space:]]*) die "FRESH_ROOT_DIR must be a folder without spaces, not '$root_dir'" ;; esac
base=$root_dir/base            # the pristine debootstrapped root, never entered
base_info_file=$root_dir/base.info
work=$root_dir/root            # this run's copy, where the checks run
log_parent=$(realpath -m "${FRESH_LOG_DIR:-$root_dir/logs}")
log_dir=$log_parent/$(date -u +%Y%m%d-%H%M%S)
mkdir -p "$root_dir" "$log_dir"
ln -sfn "$(basename "$log_dir")" "$log_parent/latest"

# Two runs would share the working root.
exec 9>"$root_dir/.lock"
flock -n 9 || die "another check is using $root_dir"

# --- mounts and cleanup ----------------------------------------------------------------------------
# Mount points at or under a folder, deepest first.
mounts_under() { awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r; }

unmount_under() {
  local m
  for m in $(mounts_under "$1"); do
    # A process still closing files can keep a mount busy for a moment; lazy detaching is the last
    # resort and still takes the mount out of the tree before anything is removed.
    umount "$m" 2>/dev/null || { sleep 2; umount "$m" 2>/dev/null; } || umount --lazy "$m" || true
  done
}

# Removes a root only once nothing is mounted under it: rm -rf through a bind mount of /dev or /sys
# would delete the host's own files. --one-file-system is a second guard against the same.
safe_remove() {
  local dir=$1 left
  [ -e "$dir" ] || return 0
  unmount_under "$dir"
  left=$(mounts_under "$dir")
  if [ -n "$left" ]; then
    say "NOT removing $dir: still mounted: $(echo "$left" | tr '\n' ' ')"
    return 1
  fi
  rm -rf --one-file-system "$dir"
}

step_pid=""
# Stops a running step and everything it started (the step is its own process group, see run_step),
# so that nothing keeps the root's mounts busy.
stop_step() {
  local p
  if [ -n "$step_pid" ] && kill -0 "$step_pid" 2>/dev/null; then
    kill -TERM -- "-$step_pid" 2>/dev/null || true
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$step_pid" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$step_pid" 2>/dev/null || true
    wait "$step_pid" 2>/dev/null || true
  fi
  step_pid=""
  # Some tools leave the group (apt runs dpkg in its own); whatever still runs in the root goes too.
  for p in /proc/[0-9]*; do
    if [ "$(readlink "$p/root" 2>/dev/null)" = "$work" ]; then kill -KILL "${p#/proc/}" 2>/dev/null || true; fi
  done
}

cleanup() {
  local rc=$?
  stop_step
  unmount_under "$work"
  unmount_under "$base.tmp"   # debootstrap mounts /proc and /sys in its target while it works
  if [ -e "$work" ]; then
    if [ "$keep" = 1 ]; then
      say "kept the working root: $work (enter it with: chroot $work /bin/bash after mounting /proc, /sys, /dev)"
    else
      say "removing the working root $work"
      safe_remove "$work" || rc=1
    fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

mount_root() {
  local d
  for d in proc sys dev dev/pts; do
    mkdir -p "$work/$d"
    mount --bind "/$d" "$work/$d"
    # Mounts made later under the root must not propagate back to the host's /dev or /sys.
    mount --make-slave "$work/$d"
  done
}

# --- steps -----------------------------------------------------------------------------------------
results=()
failed=0

fmt_duration() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

# run_step NAME COMMAND...: runs the command (a function is fine) with its output in NAME.log,
# records the result and sets step_rc. Call it outside `if`/`||`, where bash would switch off
# `set -e` for the whole step.
step_rc=0
run_step() {
  local name=$1 log=$log_dir/$1.log start took first
  shift
  say "$name: running (log: $log)"
  start=$SECONDS
  # Job control gives the step its own process group, so an interrupt can stop all of it (stop_step).
  set -m
  ("$@") >"$log" 2>&1 </dev/null &
  step_pid=$!
  set +m
  if wait "$step_pid"; then step_rc=0; else step_rc=$?; fi
  step_pid=""
  took=$(fmt_duration $((SECONDS - start)))
  if [ "$step_rc" -eq 0 ]; then
    results+=("$(printf '%-8s PASS  %7s  %s' "$name" "$took" "$log")")
    say "$name: PASS in $took"
  else
    results+=("$(printf '%-8s FAIL  %7s  %s (exit %d)' "$name" "$took" "$log" "$step_rc")")
    failed=1
    # With parallel ninja or ctest the first error can be far above the tail.
    first=$(grep -n -m1 -E '\*\*\*(Failed|Timeout|Exception)|^E: |^FAILED: |: (fatal )?error: |^CMake Error|^npm ERR!' "$log" |
      cut -d: -f1 || true)
    if [ -n "$first" ] && [ "$first" -lt $(($(wc -l <"$log") - 40)) ]; then
      say "$name: FAIL (exit $step_rc); first error, from line $first of $log:"
      sed -n "${first},$((first + 24))p" "$log" | sed 's/^/    | /'
    fi
    say "$name: FAIL (exit $step_rc) in $took; last lines of $log:"
    tail -n 40 "$log" | sed 's/^/    | /'
  fi
}

summary() {
  echo
  say "results"
  printf '  %s\n' "${results[@]}"
}

# --- how this host reaches the package archives ----------------------------------------------------
# The first deb URI the host's apt uses for a suite, from one-line and deb822 sources.
host_mirror() {
  local s=$1 f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    awk -v s="$s" '$1 == "deb" {
        i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/ && i < NF) i++; i++ }
        if ($(i + 1) == s) print $i }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk -v s="$s" 'BEGIN { RS = "" } {
        types = uris = suites = enabled = ""
        n = split($0, line, "\n")
        for (i = 1; i <= n; i++) {
          if (line[i] ~ /^Types:/) types = " " substr(line[i], 7) " "
          else if (line[i] ~ /^URIs:/) uris = substr(line[i], 6)
          else if (line[i] ~ /^Suites:/) suites = " " substr(line[i], 8) " "
          else if (line[i] ~ /^Enabled:/) enabled = substr(line[i], 9)
        }
        gsub(/\t/, " ", types); gsub(/\t/, " ", suites)
        if (types ~ / deb / && index(suites, " " s " ") && enabled !~ /no/) { split(uris, u, " "); print u[1] }
      }' "$f"
  done
}
pick_mirror() {
  local m
  m=$(host_mirror "$1" | grep -E '^https?://' | sed -n 1p || true)
  m=${m:-$2}
  echo "${m%/}"
}
mirror=$(pick_mirror "$suite" http://deb.debian.org/debian)
security_mirror=$(pick_mirror "$suite-security" http://deb.debian.org/debian-security)

# Proxies: from the environment, and apt's own (Acquire::*::Proxy), which debootstrap's wget ignores.
proxy_env=()
for v in http_proxy https_proxy ftp_proxy all_proxy no_proxy HTTP_PROXY HTTPS_PROXY FTP_PROXY ALL_PROXY NO_PROXY; do
  if [ -n "${!v:-}" ]; then proxy_env+=("$v=${!v}"); fi
done
apt_carry=$(apt-config dump 2>/dev/null | grep -E '^Acquire::((https?|ftp)::Proxy|Check-Valid-Until |Check-Date )' || true)
apt_http_proxy=""
eval "$(apt-config shell apt_http_proxy Acquire::http::Proxy 2>/dev/null || true)"
debootstrap_env=()
if [ -z "${http_proxy:-}" ] && [ -n "$apt_http_proxy" ] && [ "$apt_http_proxy" != DIRECT ]; then
  debootstrap_env=("http_proxy=$apt_http_proxy")
fi

# This host may intercept TLS with its own CA; a fresh root would not trust it.
ca_bundle=/etc/ssl/certs/ca-certificates.crt
[ -r "$ca_bundle" ] || die "no CA bundle at $ca_bundle"

# npm's registry and proxies as the host's npm sees them.
npm_get() {
  if command -v npm >/dev/null; then npm config get "$1" 2>/dev/null | grep -v -x -E 'null|undefined|' || true; fi
}
npm_registry=$(npm_get registry)
if [ -z "$npm_registry" ]; then
  npm_registry=$(sed -n 's/^[[:space:]]*registry[[:space:]]*=[[:space:]]*//p' "$HOME/.npmrc" /etc/npmrc 2>/dev/null | sed -n 1p || true)
fi
npm_registry=${npm_registry:-https://registry.npmjs.org/}
npm_proxy=$(npm_get proxy)
npm_https_proxy=$(npm_get https-proxy)

say "repository: $repo ($([ "$worktree" = 1 ] && echo "working tree, uncommitted changes included" || echo "clone of HEAD"))"
say "mirror: $mirror (security: $security_mirror); npm registry: $npm_registry"
say "proxies: ${proxy_env[*]:-none in the environment}${apt_http_proxy:+; apt: $apt_http_proxy}; CA bundle: $ca_bundle"
say "logs: $log_dir"

# --- the cached base root --------------------------------------------------------------------------
build_base() {
  if ! command -v debootstrap >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y debootstrap
  fi
  safe_remove "$base.tmp"   # an interrupted debootstrap
  env "${debootstrap_env[@]}" nice -n 19 debootstrap --variant="$variant" "$suite" "$base.tmp" "$mirror"
  safe_remove "$base"       # an outdated one
  # Only a finished root becomes the base.
  mv "$base.tmp" "$base"
  echo "$base_info" >"$base_info_file"
}

base_info="$suite $variant $(dpkg --print-architecture) $mirror"
if [ "$refresh" = 1 ] || [ ! -d "$base" ] || [ "$(cat "$base_info_file" 2>/dev/null)" != "$base_info" ]; then
  run_step base build_base
  [ "$step_rc" -eq 0 ] || { summary; exit 1; }
else
  say "base: cached at $base"
  results+=("$(printf '%-8s CACHED %6s  %s' base - "$base")")
fi

# --- this run's root -------------------------------------------------------------------------------
prepare_root() {
  safe_remove "$work"   # left by --keep or a crash
  nice -n 19 cp -a "$base" "$work"

  # Name resolution and the same archives as the host, with updates and security like a fresh install.
  cp -L /etc/resolv.conf "$work/etc/resolv.conf"
  cp /etc/hosts "$work/etc/hosts"
  cat >"$work/etc/apt/sources.list" <<EOF
deb $mirror $suite main
deb $mirror $suite-updates main
deb $security_mirror $suite-security main
EOF
  if [ -n "$apt_carry" ]; then
    printf '%s\n' "$apt_carry" >"$work/etc/apt/apt.conf.d/90host-network"
  fi
  # No services start inside a chroot.
  printf '#!/bin/sh\nexit 101\n' >"$work/usr/sbin/policy-rc.d"
  chmod +x "$work/usr/sbin/policy-rc.d"

  # The host's CA bundle at the standard path (apt over https), at a path that package installs
  # leave alone (what the environment points at), and the host's local CAs where
  # update-ca-certificates keeps them when the ca-certificates package rebuilds the bundle.
  mkdir -p "$work/etc/ssl/certs" "$work/usr/local/share/ca-certificates"
  cp "$ca_bundle" "$work/etc/ssl/certs/ca-certificates.crt"
  cp "$ca_bundle" "$work/etc/ssl/host-ca-bundle.crt"
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$work/usr/local/share/ca-certificates/"
  fi

  # npm reads /etc/npmrc as its global config.
  {
    echo "registry=$npm_registry"
    echo "cafile=/etc/ssl/host-ca-bundle.crt"
    [ -z "$npm_proxy" ] || echo "proxy=$npm_proxy"
    [ -z "$npm_https_proxy" ] || echo "https-proxy=$npm_https_proxy"
  } >"$work/etc/npmrc"

  # The repository, as a clone would have it.
  if [ "$worktree" = 1 ]; then
    mkdir -p "$work/root/cotangent"
    # Tracked and untracked-but-not-ignored files; tracked files deleted in the tree are skipped.
    git -C "$repo" ls-files -z -co --exclude-standard |
      (cd "$repo" && while IFS= read -r -d '' f; do if [ -e "$f" ] || [ -L "$f" ]; then printf '%s\0' "$f"; fi; done) |
      tar -C "$repo" --null -T - -cf - |
      tar -C "$work/root/cotangent" --no-same-owner -xf -
    echo "copied the working tree of $repo at $(git -C "$repo" rev-parse --short HEAD)" \
      "with $(git -C "$repo" status --porcelain | wc -l) changed or new files"
  else
    git clone --quiet --no-hardlinks "$repo" "$work/root/cotangent"
    echo "cloned $repo at $(git -C "$work/root/cotangent" log -1 --format='%h %s')"
  fi
}
run_step prepare prepare_root
[ "$step_rc" -eq 0 ] || { summary; exit 1; }
sed 's/^/    /' "$log_dir/prepare.log"
mount_root

# As root with a fresh login's environment, plus what this host needs to reach the registries.
in_root() {
  nice -n 19 chroot "$work" /usr/bin/env -i \
    HOME=/root USER=root LOGNAME=root SHELL=/bin/bash \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    NODE_EXTRA_CA_CERTS=/etc/ssl/host-ca-bundle.crt \
    CURL_CA_BUNDLE=/etc/ssl/host-ca-bundle.crt \
    SSL_CERT_FILE=/etc/ssl/host-ca-bundle.crt \
    "${proxy_env[@]}" \
    /bin/bash -c 'cd /root/cotangent && exec "$@"' bash "$@"
}

if [ -z "$only" ] || [ "$only" = test ]; then
  run_step test in_root scripts/quickstart.sh test
fi
if [ -z "$only" ] || [ "$only" = train ]; then
  run_step train in_root scripts/quickstart.sh train "${train_args[@]}" "${train_extra[@]}"
fi

summary
exit "$failed"
