#!/bin/sh
# Checks the systemd units in this folder with "systemd-analyze verify",
# which reports unknown keys, bad values and missing executables. Without
# systemd-analyze it says so and exits 0.
#
# verify insists that every Exec*= command exists. authd is not installed
# where the units expect it (/usr/local/bin/authd), so the units are
# checked as copies that point at a stand-in executable instead.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
units="authd.service authd-backup.service authd-backup.timer"

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "deploy/check.sh: systemd-analyze not found, units not checked (it comes with the systemd package)"
	exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
printf '#!/bin/sh\nexit 0\n' >"$tmp/authd"
chmod 0755 "$tmp/authd"
files=""
for u in $units; do
	sed "s|/usr/local/bin/authd|$tmp/authd|g" "$here/$u" >"$tmp/$u"
	files="$files $tmp/$u"
done

# verify also loads the units these depend on (network-online.target,
# timers.target...) and may warn about the host's own units; only the
# lines about ours, and the exit status, count.
status=0
# shellcheck disable=SC2086 # $files is a list of paths without spaces
out=$(systemd-analyze verify --man=no $files 2>&1) || status=$?
ours=$(printf '%s\n' "$out" | grep -F "$tmp/" || true)
for u in $units; do
	ours="$ours
$(printf '%s\n' "$out" | grep -F "$u" | grep -vF "$tmp/" || true)"
done
ours=$(printf '%s\n' "$ours" | sed '/^$/d' | sort -u)

if [ "$status" -ne 0 ] || [ -n "$ours" ]; then
	printf '%s\n' "$out" | sed "s|$tmp/|deploy/|g" >&2
	echo "deploy/check.sh: systemd-analyze verify failed (status $status)" >&2
	exit 1
fi
echo "deploy/check.sh: $units verified"
