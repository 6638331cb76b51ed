#!/bin/sh
# The reference device as the implementation under test of the `device` role: writes the
# device.toml that `mailpush device run` reads from the runner's MAILPUSH_CONFORM_* variables and
# runs the daemon in the case's scratch directory until the runner kills it.
#
#   mailpush-conform --role device --exec 'conformance/adapters/reference-device.sh' ...
#
# MAILPUSH names the mailpush binary (default: `mailpush` on the PATH).
set -eu
dir="$MAILPUSH_CONFORM_DIR"
# Notes,Journal -> "Notes", "Journal" (the runner's mailbox names have no quotes or commas).
mailboxes=$(printf '%s' "$MAILPUSH_CONFORM_MAILBOXES" | sed 's/[^,][^,]*/"&"/g; s/,/, /g')
# A run that declares `--config registration-renewal=D` gets a device that renews that often
# (the device takes whole seconds).
renewal=""
if [ -n "${MAILPUSH_CONFORM_CONFIG_REGISTRATION_RENEWAL:-}" ]; then
    renewal="registration_renewal_secs = $((MAILPUSH_CONFORM_CONFIG_REGISTRATION_RENEWAL / 1000))"
fi
cat > "$dir/device.toml" <<TOML
data_dir = "data"
$renewal

[[accounts]]
name = "$MAILPUSH_CONFORM_ACCOUNT"
address = "$MAILPUSH_CONFORM_IMAP"
security = "imaps"
user = "$MAILPUSH_CONFORM_USER"
password = "$MAILPUSH_CONFORM_PASSWORD"
ca_file = "$MAILPUSH_CONFORM_CA"
testing_override_poll_interval_ms = $MAILPUSH_CONFORM_POLL_MS
mailboxes = [$mailboxes]

[push]
channel = "$MAILPUSH_CONFORM_CHANNEL"
api = "$MAILPUSH_CONFORM_API"
registration_token = "$MAILPUSH_CONFORM_REGISTRATION"
ca_file = "$MAILPUSH_CONFORM_CA"
TOML
exec "${MAILPUSH:-mailpush}" device run --config "$dir/device.toml"
