#!/bin/sh
# annexa-agent prerm (deb: remove|upgrade; rpm: %preun with 0 or 1).
# Stops the service on removal; an upgrade restarts it in postinst.
set -e

case "$1" in
  remove|0) ;;
  *) exit 0 ;;
esac

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  # Stopping flushes the spool for up to 10 s; what is left stays on disk.
  systemctl stop annexa-agent.service >/dev/null 2>&1 || true
  systemctl disable annexa-agent.service >/dev/null 2>&1 || true
elif [ -x /etc/init.d/annexa-agent ]; then
  # The System V script `annexa-agent service install` wrote would start a
  # program that is gone: stop the agent and take the script away.
  /usr/bin/annexa-agent service stop >/dev/null 2>&1 || true
  /usr/bin/annexa-agent service uninstall >/dev/null 2>&1 || true
fi
exit 0
