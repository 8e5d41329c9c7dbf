#!/bin/sh
# annexa-collector postinst (deb: configure; rpm: %post with 1 or 2).
# Creates the annexa user and the data folder, and enables the service
# without starting it: it serves TLS only once `annexa-collector init` has
# made (or been given) its certificate.
set -e

case "$1" in
  configure|1|2) ;;
  *) exit 0 ;;
esac

# One system user for both packages; no home, no login.
if ! getent passwd annexa >/dev/null; then
  if command -v adduser >/dev/null && adduser --help 2>&1 | grep -q -- --system; then
    adduser --system --group --home /nonexistent --no-create-home \
      --gecos "Annexa evidence agent and collector" annexa >/dev/null
  else
    useradd --system --user-group --home-dir /nonexistent --no-create-home \
      --shell /sbin/nologin --comment "Annexa evidence agent and collector" annexa
  fi
fi

# The store, the CA key and the server key live here: nobody else reads it.
mkdir -p /var/lib/annexa-collector
chown annexa:annexa /var/lib/annexa-collector
chmod 0700 /var/lib/annexa-collector

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  systemctl daemon-reload >/dev/null || true
  systemctl enable annexa-collector.service >/dev/null 2>&1 || true
  if [ -f /var/lib/annexa-collector/tls/server.pem ]; then
    systemctl try-restart annexa-collector.service >/dev/null 2>&1 || true
  fi
elif [ -x /etc/init.d/annexa-collector ] && /usr/bin/annexa-collector service status 2>/dev/null | grep -q ': running'; then
  # The System V script `annexa-collector service install` wrote: an
  # upgrade restarts a running collector on the new binary.
  /usr/bin/annexa-collector service restart >/dev/null 2>&1 || true
fi

if [ ! -f /var/lib/annexa-collector/tls/server.pem ]; then
  echo "annexa-collector: create its CA and certificate with"
  echo "  annexa-collector init --data /var/lib/annexa-collector --name \$(hostname -f)"
  if [ -d /run/systemd/system ]; then
    echo "and start it with: systemctl start annexa-collector"
  else
    echo "and, as this host runs no systemd, start it with:"
    echo "  annexa-collector service install --data /var/lib/annexa-collector --listen 0.0.0.0:8443 && annexa-collector service start"
  fi
fi
exit 0
