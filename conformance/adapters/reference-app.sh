#!/bin/sh
# The reference device's notes application as the application hook of the `device` role: runs
# one `mailpush notes` command against the daemon that reference-device.sh started in the same
# scratch directory, and prints what the hook's contract asks (conformance/README.md).
#
#   mailpush-conform --role device --exec conformance/adapters/reference-device.sh \
#       --app conformance/adapters/reference-app.sh ...
#
# MAILPUSH names the mailpush binary (default: `mailpush` on the PATH).
set -eu
notes() {
    "${MAILPUSH:-mailpush}" notes --config "$MAILPUSH_CONFORM_DIR/device.toml" "$@"
}
case "$MAILPUSH_CONFORM_ACTION" in
create) notes add "$MAILPUSH_CONFORM_TEXT" ;;
edit) notes edit "$MAILPUSH_CONFORM_ID" "$MAILPUSH_CONFORM_TEXT" ;;
delete) notes rm "$MAILPUSH_CONFORM_ID" ;;
show) notes show "$MAILPUSH_CONFORM_ID" ;;
list)
    # `ID  DATE  TITLE` (the date is six words) -> `ID TITLE`; unreadable notes stay as they are.
    out=$(notes list)
    printf '%s\n' "$out" | sed -E 's/^([^ ]+)  ([^ ]+ ){5}[^ ]+  /\1 /'
    ;;
*)
    echo "unknown action: $MAILPUSH_CONFORM_ACTION" >&2
    exit 2
    ;;
esac
