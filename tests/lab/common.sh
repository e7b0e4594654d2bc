# shellcheck shell=bash disable=SC2034
# Shared helpers for the namespace lab: result reporting, a cleanup registry, bounded waits.
#
# Sourced by netns.sh, strongswan.sh and the runners. Everything a run creates (processes,
# namespaces, directories) is registered here so one EXIT trap removes it, whatever failed.
# Nothing in here sends a packet; the lab scripts only ever act inside namespaces they created.

[[ -n "${LAB_COMMON_SOURCED:-}" ]] && return 0
LAB_COMMON_SOURCED=1

LAB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# --- cleanup registry --------------------------------------------------------------------
LAB_PIDS=()   # processes we started, killed in reverse order
LAB_NETNS=()  # namespaces we created, deleted after the processes are gone
LAB_DIRS=()   # run directories, removed unless LAB_KEEP=1
LAB_CLEANED=0

lab_register_pid() { LAB_PIDS+=("$1"); }
lab_register_netns() { LAB_NETNS+=("$1"); }
lab_register_dir() { LAB_DIRS+=("$1"); }

# lab_kill_pid PID [GRACE_SECONDS]: SIGTERM, wait up to GRACE seconds, then SIGKILL.
# Only ever called with pids this run started (from the registry or a pid file we wrote).
lab_kill_pid() {
    local pid=$1 grace=${2:-5} i
    [[ "$pid" =~ ^[0-9]+$ ]] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

lab_cleanup() {
    local rc=$? i ns d
    ((LAB_CLEANED)) && return "$rc"
    LAB_CLEANED=1
    set +e
    for ((i = ${#LAB_PIDS[@]} - 1; i >= 0; i--)); do
        lab_kill_pid "${LAB_PIDS[i]}" 5
    done
    for ((i = ${#LAB_NETNS[@]} - 1; i >= 0; i--)); do
        ns=${LAB_NETNS[i]}
        ip netns pids "$ns" 2>/dev/null | while read -r p; do
            # Anything still inside a namespace we created was started by this run.
            kill -KILL "$p" 2>/dev/null
        done
        ip netns del "$ns" 2>/dev/null
    done
    for d in "${LAB_DIRS[@]}"; do
        if [[ "${LAB_KEEP:-0}" == 1 ]]; then
            lab_log "kept run directory $d (LAB_KEEP=1)"
        else
            rm -rf --one-file-system -- "$d"
        fi
    done
    return "$rc"
}

# lab_install_traps: call once from an entry script (not from a sourced library).
lab_install_traps() {
    trap lab_cleanup EXIT
    trap 'lab_log "interrupted"; exit 130' INT
    trap 'lab_log "terminated"; exit 143' TERM
}

# --- logging and results -------------------------------------------------------------------
LAB_PASSED=0
LAB_FAILED=0

lab_log() { printf '# %s\n' "$*" >&2; }
lab_die() {
    printf 'lab: error: %s\n' "$*" >&2
    exit 2
}

lab_ok() {
    LAB_PASSED=$((LAB_PASSED + 1))
    printf 'ok - %s\n' "$*"
}
lab_notok() {
    LAB_FAILED=$((LAB_FAILED + 1))
    printf 'not ok - %s\n' "$*"
}
# lab_check DESCRIPTION CMD...: runs CMD, records ok/not ok by its exit status.
lab_check() {
    local desc=$1
    shift
    if "$@"; then lab_ok "$desc"; else lab_notok "$desc"; fi
}
# A measurement line: a TAP comment so that it never counts as a check.
lab_measure() { printf '# measure %s\n' "$*"; }

# Known gaps: checks of something the project does not do yet, named with the reason (TAP's
# "# TODO" directive). They run and print like any check; a failing one is listed as a known
# gap instead of counting as failed, a passing one counts as passed and says the gap is closed.
# LAB_STRICT=1 counts failing known gaps as failures.
LAB_GAPS=()
lab_gap() { # lab_gap REASON DESCRIPTION CMD...
    local reason=$1 desc=$2
    shift 2
    if "$@"; then
        LAB_PASSED=$((LAB_PASSED + 1))
        printf 'ok - %s # TODO passed: known gap closed? (%s)\n' "$desc" "$reason"
    elif [[ ${LAB_STRICT:-0} == 1 ]]; then
        lab_notok "$desc (known gap: $reason; LAB_STRICT=1)"
    else
        LAB_GAPS+=("$desc")
        printf 'not ok - %s # TODO known gap: %s\n' "$desc" "$reason"
    fi
}

lab_summary() {
    local g
    if ((${#LAB_GAPS[@]})); then
        printf '# %d known gap(s), not counted as failed (LAB_STRICT=1 counts them):\n' "${#LAB_GAPS[@]}"
        for g in "${LAB_GAPS[@]}"; do printf '#   %s\n' "$g"; done
    fi
    printf '%d passed, %d failed\n' "$LAB_PASSED" "$LAB_FAILED"
    ((LAB_FAILED == 0 && LAB_PASSED > 0))
}

# --- time and bounded waits ----------------------------------------------------------------
lab_now_ms() { date +%s%3N; }

# lab_wait_until TIMEOUT_SECONDS CMD...: polls CMD every 50 ms until it succeeds or time runs out.
lab_wait_until() {
    local timeout=$1 deadline
    shift
    deadline=$(($(lab_now_ms) + timeout * 1000))
    while (($(lab_now_ms) < deadline)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    "$@" >/dev/null 2>&1
}

# lab_median N...: median of integers (lower median for an even count).
lab_median() {
    (($# > 0)) || { echo NA; return; }
    printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

lab_require_root() {
    [[ $(id -u) -eq 0 ]] || lab_die "must run as root (network namespaces, nftables, charon)"
}

# lab_need CMD...: fails with the package hint from deps.sh when a tool is missing.
lab_need() {
    local c missing=()
    for c in "$@"; do command -v "$c" >/dev/null 2>&1 || missing+=("$c"); done
    ((${#missing[@]} == 0)) || lab_die "missing tools: ${missing[*]} (run tests/lab/deps.sh as root)"
}

# lab_mkrundir: a private, short run directory (unix socket paths must stay below 108 bytes),
# registered for removal. Sets LAB_RUNDIR; not meant for $(...), whose subshell would register
# the directory in a copy of the registry that dies with it.
lab_mkrundir() {
    LAB_RUNDIR=$(mktemp -d "${TMPDIR:-/tmp}/xlat-lab.XXXXXX")
    chmod 700 "$LAB_RUNDIR"
    lab_register_dir "$LAB_RUNDIR"
}
