#!/bin/sh
# annexa-collector prerm (deb: remove|upgrade; rpm: %preun with 0 or 1).
set -e

case "$1" in
  remove|0) ;;
  *) exit 0 ;;
esac

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  systemctl stop annexa-collector.service >/dev/null 2>&1 || true
  systemctl disable annexa-collector.service >/dev/null 2>&1 || true
elif [ -x /etc/init.d/annexa-collector ]; then
  # The System V script `annexa-collector service install` wrote would
  # start a program that is gone: stop the collector, remove the script.
  /usr/bin/annexa-collector service stop >/dev/null 2>&1 || true
  /usr/bin/annexa-collector service uninstall >/dev/null 2>&1 || true
fi
exit 0
