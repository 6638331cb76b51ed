#!/usr/bin/env bash
# The IMAP workload of `mailpush bench imap` against the mailpush mail server and against
# Debian's Dovecot, in one run, on loopback; prints both reports, a comparison table and the
# throughput ratio. Run it from anywhere in the repository, as root (it installs dovecot-imapd
# with apt-get when missing, and Dovecot wants root to start).
#
# Environment (all optional):
#   CLIENTS=50 IDLERS=10 DURATION=20 SHARED=0   the workload (SHARED=1: one mailbox for all)
#   ROUNDS=1          how many times to run the pair (alternating which server goes first)
#   MAILPUSH=path     a built `mailpush` binary (default: cargo build --release -p mailpush)
#   MAIL_FORMAT=maildir|sdbox   Dovecot's mailbox format (default maildir)
#   PORT_MAILPUSH=11143 PORT_DOVECOT=11144
#   KEEP=1            keep the temporary directory (logs, databases, mail)
set -euo pipefail

CLIENTS=${CLIENTS:-50}
IDLERS=${IDLERS:-10}
DURATION=${DURATION:-20}
SHARED=${SHARED:-0}
ROUNDS=${ROUNDS:-1}
MAIL_FORMAT=${MAIL_FORMAT:-maildir}
PORT_MAILPUSH=${PORT_MAILPUSH:-11143}
PORT_DOVECOT=${PORT_DOVECOT:-11144}
USER_NAME=bench
PASSWORD=bench-password

repo=$(cd "$(dirname "$0")/../../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/mailpush-imap-bench.XXXXXX")
# Dovecot's mail processes run as nobody and must reach their home below this directory.
chmod 755 "$work"

pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ "${KEEP:-0}" == 1 ]]; then
        echo "kept $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

say() { printf '== %s\n' "$*" >&2; }

wait_for_port() {
    local port=$1 pid=$2
    for _ in $(seq 1 100); do
        if ! kill -0 "$pid" 2>/dev/null; then
            say "server (pid $pid) exited before listening on $port"
            return 1
        fi
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    say "nothing listens on 127.0.0.1:$port"
    return 1
}

# --- Dovecot -------------------------------------------------------------------------------
if ! command -v dovecot >/dev/null; then
    say "installing dovecot-imapd"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q dovecot-imapd >&2 ||
        { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q dovecot-imapd >&2; }
fi
# The package may have started the system service; this run does not use it, only its binary.

mkdir -p "$work/dovecot/run" "$work/dovecot/state" "$work/home/$USER_NAME"
chown -R nobody:nogroup "$work/home"
mail_uid=$(id -u nobody)
mail_gid=$(getent group nogroup | cut -d: -f3)
echo "$USER_NAME:{PLAIN}$PASSWORD:$mail_uid:$mail_gid::$work/home/$USER_NAME::" >"$work/dovecot/passwd"
case "$MAIL_FORMAT" in
    maildir) mail_location="maildir:~/Maildir" ;;
    sdbox) mail_location="sdbox:~/sdbox" ;;
    *) say "MAIL_FORMAT must be maildir or sdbox"; exit 2 ;;
esac
cat >"$work/dovecot/dovecot.conf" <<EOF
# Written by compare-dovecot.sh: a self-contained Dovecot on loopback, no system files used.
base_dir = $work/dovecot/run
state_dir = $work/dovecot/state
log_path = $work/dovecot/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $work/dovecot/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%u $work/dovecot/passwd
}
first_valid_uid = 1
mail_location = $mail_location
# mail_fsync is left at its default (optimized).
mail_max_userip_connections = 1000
default_process_limit = 1000
default_client_limit = 4000
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $PORT_DOVECOT
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  client_limit = 4000
}
EOF

# --- mailpush ------------------------------------------------------------------------------
if [[ -z "${MAILPUSH:-}" ]]; then
    say "building mailpush (release)"
    (cd "$repo" && cargo build -q --release -p mailpush)
    MAILPUSH="${CARGO_TARGET_DIR:-$repo/target}/release/mailpush"
fi
printf '%s\n' "$PASSWORD" | "$MAILPUSH" user --database "$work/mail.db" add "$USER_NAME" >&2

start_mailpush() {
    RUST_LOG=warn "$MAILPUSH" mail-server --database "$work/mail.db" \
        --listen "127.0.0.1:$PORT_MAILPUSH" --allow-plaintext-loopback \
        2>>"$work/mailpush.log" &
    mailpush_pid=$!
    pids+=("$mailpush_pid")
    wait_for_port "$PORT_MAILPUSH" "$mailpush_pid"
}
start_dovecot() {
    dovecot -F -c "$work/dovecot/dovecot.conf" 2>>"$work/dovecot/stderr.log" &
    dovecot_pid=$!
    pids+=("$dovecot_pid")
    wait_for_port "$PORT_DOVECOT" "$dovecot_pid"
}

bench_flags=(--user "$USER_NAME" --password "$PASSWORD" --clients "$CLIENTS" --idlers "$IDLERS"
    --duration "$DURATION" --tsv)
[[ "$SHARED" == 1 ]] && bench_flags+=(--shared-mailbox)

# run NAME PORT PID: one measurement, its TSV appended to $work/NAME.tsv (with a CPU row: the
# server's CPU seconds during the measured interval, and per 1000 commands).
run() {
    local name=$1 port=$2 pid=$3
    say "$name: $CLIENTS clients ($IDLERS in IDLE), ${DURATION}s, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    "$MAILPUSH" bench imap --addr "127.0.0.1:$port" --server-pid "$pid" "${bench_flags[@]}" |
        tee -a "$work/$name.tsv"
}

start_mailpush
start_dovecot
say "Dovecot $(dovecot --version), mail_location $mail_location, mail_fsync default"
for round in $(seq 1 "$ROUNDS"); do
    if ((round % 2)); then
        run mailpush "$PORT_MAILPUSH" "$mailpush_pid"
        run dovecot "$PORT_DOVECOT" "$dovecot_pid"
    else
        run dovecot "$PORT_DOVECOT" "$dovecot_pid"
        run mailpush "$PORT_MAILPUSH" "$mailpush_pid"
    fi
done
say "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# --- comparison ----------------------------------------------------------------------------
# Per command, sums of counts and errors over the rounds; ops/s and percentiles are means
# over the rounds (percentiles of one round each).
awk -F'\t' -v rounds="$ROUNDS" '
    FNR == 1 { server = (FILENAME ~ /mailpush\.tsv$/) ? "m" : "d" }
    {
        key = $1
        if (key == "CPU") { cpu[server] += $2; cpuk[server] += $3; next }
        if (!(key in seen)) { seen[key] = 1; order[++n] = key }
        count[server, key] += $2; errors[server, key] += $3; ops[server, key] += $4
        p50[server, key] += $5; p99[server, key] += $6
    }
    END {
        printf "\n%-18s %12s %12s %8s %12s %12s %12s\n", "command", "mailpush/s", "dovecot/s", "ratio", "mp p99 ms", "dc p99 ms", "errors m/d"
        for (i = 1; i <= n; i++) {
            k = order[i]
            m = ops["m", k] / rounds; d = ops["d", k] / rounds
            ratio = (d > 0) ? sprintf("%.2f", m / d) : "-"
            if (k == "TOTAL")
                printf "%-18s %12.1f %12.1f %8s %12s %12s %12s\n", k, m, d, ratio, "", "", errors["m", k] "/" errors["d", k]
            else
                printf "%-18s %12.1f %12.1f %8s %12.2f %12.2f %12s\n", k, m, d, ratio, p99["m", k] / rounds, p99["d", k] / rounds, errors["m", k] "/" errors["d", k]
        }
        printf "%-18s %12.2f %12.2f %8s\n", "server CPU s", cpu["m"] / rounds, cpu["d"] / rounds, ""
        printf "%-18s %12.2f %12.2f %8s\n", "CPU ms/1000 cmds", cpuk["m"] / rounds, cpuk["d"] / rounds, (cpuk["m"] > 0) ? sprintf("%.2f", cpuk["d"] / cpuk["m"]) : "-"
        if (ops["d", "TOTAL"] > 0)
            printf "\nthroughput ratio mailpush/dovecot: %.2fx\n", ops["m", "TOTAL"] / ops["d", "TOTAL"]
    }' "$work/mailpush.tsv" "$work/dovecot.tsv"
