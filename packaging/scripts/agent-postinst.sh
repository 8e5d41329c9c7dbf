#!/bin/sh
# annexa-agent postinst (deb: configure; rpm: %post with 1 or 2).
# Creates the annexa user, the state folder, and enables the service without
# starting it: the agent cannot ship before `annexa-agent enroll`.
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

# State: spool, credentials, plugin state. Only the agent reads it.
mkdir -p /var/lib/annexa
chown annexa:annexa /var/lib/annexa
chmod 0700 /var/lib/annexa

# The config may name paths and hosts worth keeping from other users; the
# agent reads it through its group.
if [ -f /etc/annexa/agent.yaml ]; then
  chown root:annexa /etc/annexa/agent.yaml
  chmod 0640 /etc/annexa/agent.yaml
fi

# Enable at boot on systemd hosts; start only once enrolled. Without a
# running systemd (containers, System V init) there is nothing to enable:
# `annexa-agent service install` writes an init script there.
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  systemctl daemon-reload >/dev/null || true
  systemctl enable annexa-agent.service >/dev/null 2>&1 || true
  if [ -f /var/lib/annexa/credentials.json ]; then
    # An upgrade of an enrolled agent: restart on the new binary.
    systemctl try-restart annexa-agent.service >/dev/null 2>&1 || true
  fi
elif [ -x /etc/init.d/annexa-agent ] && /usr/bin/annexa-agent service status 2>/dev/null | grep -q ': running'; then
  # The System V script `annexa-agent service install` wrote: an upgrade
  # restarts a running agent on the new binary, as under systemd.
  /usr/bin/annexa-agent service restart >/dev/null 2>&1 || true
fi

if [ ! -f /var/lib/annexa/credentials.json ]; then
  echo "annexa-agent: edit /etc/annexa/agent.yaml, then enroll with"
  echo "  annexa-agent enroll --token TOKEN --ca-fingerprint sha256:...   (as annexa-collector init printed it)"
  if [ -d /run/systemd/system ]; then
    echo "and start it with: systemctl start annexa-agent"
  else
    echo "and, as this host runs no systemd, start it with: annexa-agent service install && annexa-agent service start"
  fi
fi
exit 0
