#!/bin/sh
# annexa-collector postrm (deb: remove|purge|...; rpm: %postun with 0 or 1).
# remove keeps the store and the CA: they are the audit record and the
# root every agent trusts. Only purge deletes them, as asked.
set -e

case "$1" in
  purge)
    rm -rf /var/lib/annexa-collector
    ;;
esac

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
