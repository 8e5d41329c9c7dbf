#!/bin/sh
# annexa-agent postrm (deb: remove|purge|...; rpm: %postun with 0 or 1).
# remove keeps the state (an unsent spool, the credential) so a reinstall
# carries on; purge deletes it. The annexa user stays: files elsewhere may
# still be owned by its uid, and the collector package shares it.
set -e

case "$1" in
  purge)
    rm -rf /var/lib/annexa
    # dpkg removes the conffile; the folder goes once nothing else uses it.
    rmdir /etc/annexa 2>/dev/null || true
    ;;
esac

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
