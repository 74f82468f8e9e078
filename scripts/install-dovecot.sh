#!/usr/bin/env bash
# The capture service's IMAP tests poll a real IMAP server: Debian's Dovecot, started by
# the tests on a free port with a configuration of their own. Installed here when it is
# missing and we can (root with apt-get); otherwise say what to install. The package's own
# system-wide server is not needed: it is stopped if the installation started it.
set -euo pipefail

if command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-dovecot: Dovecot is missing; install it (Debian: apt-get install dovecot-imapd)" >&2
  exit 0  # the IMAP tests then fail and say so
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q dovecot-imapd >/dev/null 2>&1 \
  || { apt-get update -q >/dev/null && apt-get install -y -q dovecot-imapd >/dev/null; }
if command -v service >/dev/null 2>&1; then
  service dovecot stop >/dev/null 2>&1 || true
fi
echo "install-dovecot: installed $(/usr/sbin/dovecot --version)"
