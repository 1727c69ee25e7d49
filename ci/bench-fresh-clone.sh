#!/usr/bin/env bash
# The README's main command in fresh clones of several commits, one after
# the other in the same run: wall and CPU seconds of each phase (`cargo
# build -p xtask`, which `cargo xtask` does first; `cargo xtask depends`;
# `cargo xtask build`) and each commit's ratios to the first (the baseline).
#   ci/bench-fresh-clone.sh BASE [COMMIT...]    (COMMIT defaults to HEAD)
# Each clone gets its own target/ (cold compiles); the sources come from
# this checkout's verified cache (SOURCES_PATH) and crates from cargo's
# registry cache (`cargo fetch` first, untimed), so no phase times a
# download. On a shared machine, take it under `flock /work/wt/bench.lock`
# and read the load averages printed beside each row.
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: ci/bench-fresh-clone.sh BASE [COMMIT...]" >&2; exit 2; }
commits=("$@")
[ $# -ge 2 ] || commits+=(HEAD)
root=$(cd "$(dirname "$0")/.." && pwd)
host=x86_64-unknown-linux-gnu
sources=$root/depends/sources
scratch=$(mktemp -d /tmp/kestrel-fresh-clone.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

if [ ! -e "$sources" ] || [ -z "$(ls -A "$sources")" ]; then
    echo "error: $sources is empty: run \`cargo xtask depends download\` here first" >&2
    exit 1
fi

load() { cut -d' ' -f1-3 /proc/loadavg; }

# phase NAME DIR CMD...: runs CMD in DIR, appends "NAME wall user sys" to
# DIR/times.
phase() {
    local name=$1 dir=$2
    shift 2
    local before
    before=$(load)
    (cd "$dir" && /usr/bin/time -f "%e %U %S" -o "$dir/.time" "$@" >"$dir/$name.log" 2>&1) || {
        echo "error: \`$*\` failed in $dir; its output:" >&2
        tail -30 "$dir/$name.log" >&2
        exit 1
    }
    echo "$name $(cat "$dir/.time") $before -> $(load)" >>"$dir/times"
}

measure() {
    local commit=$1 dir=$2
    git clone --quiet "$root" "$dir"
    git -C "$dir" checkout --quiet --detach "$commit"
    (cd "$dir" && cargo fetch --quiet)
    export SOURCES_PATH=$sources
    phase build-xtask "$dir" cargo build --quiet -p xtask
    phase depends "$dir" cargo xtask depends --host "$host"
    phase build "$dir" cargo xtask build --host "$host"
    unset SOURCES_PATH
}

ids=()
for commit in "${commits[@]}"; do ids+=("$(git -C "$root" rev-parse --short "$commit")"); done
echo "fresh clones of ${ids[*]} (the first is the baseline), one after the other"
files=()
for i in "${!commits[@]}"; do
    measure "${commits[$i]}" "$scratch/$i"
    files+=("$scratch/$i/times")
done

awk -v ids="${ids[*]}" '
    BEGIN { k = split(ids, id, " ") }
    FNR == 1 { side++ }
    { wall[side, $1] = $2; cpu[side, $1] = $3 + $4; load[side, $1] = $5 " " $6 " " $7 " -> " $9 " " $10 " " $11
      if (side == 1) order[++n] = $1 }
    END {
        for (s = 1; s <= k; s++) {
            printf "== %s%s ==\n", id[s], s == 1 ? " (baseline)" : ""
            printf "%-12s %9s %9s %7s %7s   load 1/5/15 before -> after\n", "phase", "wall", "cpu", "wall x", "cpu x"
            tw = 0; tc = 0
            for (i = 1; i <= n; i++) {
                p = order[i]
                printf "%-12s %8.1fs %8.1fs %6.2fx %6.2fx   %s\n", p, wall[s, p], cpu[s, p], wall[s, p] / wall[1, p], cpu[s, p] / cpu[1, p], load[s, p]
                tw += wall[s, p]; tc += cpu[s, p]
            }
            if (s == 1) { tw1 = tw; tc1 = tc }
            printf "%-12s %8.1fs %8.1fs %6.2fx %6.2fx   (aim: at most 1.25x the baseline)\n", "README cmd", tw, tc, tw / tw1, tc / tc1
        }
    }' "${files[@]}"
