#!/bin/sh
# Builds the annexa-agent and annexa-collector packages with nfpm from the
# executables in BIN (default bin/, from `make build`).
#   packaging/package.sh [OUT [FORMAT...]]    OUT defaults to dist/, FORMATs to deb rpm
# VERSION defaults to the binaries' own version (packaging/version.sh) in
# package form: 1.2.3, 1.2.3+3.gHASH, or 0.0.0~git.DATE.gHASH when untagged.
set -eu
cd "$(dirname "$0")/.."

NFPM_VERSION=v2.45.2
OUT=${1:-dist}
[ $# -gt 0 ] && shift
FORMATS=${*:-deb rpm}
BIN=${BIN:-bin}
GO=${GO:-go}
case "$BIN" in /*) ;; *) BIN=$(pwd)/$BIN ;; esac
export BIN

for f in annexa-agent annexa-collector annexa-plugin-datasets annexa-plugin-models \
         annexa-plugin-access annexa-plugin-encryption plugins.sha256; do
  [ -f "$BIN/$f" ] || { echo "package: $BIN/$f is missing; run make build first" >&2; exit 1; }
done
# The manifest must match the plugins it ships, or every agent refuses them.
(cd "$BIN" && sha256sum --quiet -c plugins.sha256) || { echo "package: $BIN/plugins.sha256 does not match the plugins; run make build" >&2; exit 1; }

if [ -z "${VERSION:-}" ]; then
  # The package carries the version its binaries report (packaging/version.sh
  # made it at build time), so `agents list --min-version` and dpkg/rpm agree.
  # Binaries built for another architecture cannot say; the checkout can.
  agent=$("$BIN/annexa-agent" version 2>/dev/null | awk '{print $2}') || agent=
  collector=$("$BIN/annexa-collector" --version 2>/dev/null | awk '{print $2}') || collector=
  if [ -z "$agent" ] && [ -z "$collector" ]; then
    agent=$(packaging/version.sh)
    collector=$agent
  fi
  if [ "$agent" != "$collector" ]; then
    echo "package: $BIN/annexa-agent is version $agent but $BIN/annexa-collector is $collector; run make build" >&2
    exit 1
  fi
  VERSION=$(packaging/version.sh --package "$agent")
fi
export VERSION
ARCH=${ARCH:-$($GO env GOARCH)}
export ARCH

NFPM=$(pwd)/tools/bin/nfpm
if ! [ -x "$NFPM" ] || ! $GO version -m "$NFPM" 2>/dev/null | grep -q "mod.*github.com/goreleaser/nfpm/v2.*$NFPM_VERSION"; then
  echo "package: installing nfpm $NFPM_VERSION into tools/bin"
  GOBIN=$(pwd)/tools/bin CGO_ENABLED=0 $GO install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$NFPM_VERSION"
fi

mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export WORK
when=$(git log -1 --format=%cD 2>/dev/null || date -R)
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
for pkg in annexa-agent annexa-collector; do
  # Debian wants a changelog in every package; this one points at git.
  printf '%s (%s) unstable; urgency=medium\n\n  * Built from commit %s; see the git history for changes.\n\n -- Annexa maintainers <annexa@example.org>  %s\n' \
    "$pkg" "$VERSION" "$commit" "$when" | gzip -n -9 > "$WORK/$pkg.changelog.gz"
  for fmt in $FORMATS; do
    "$NFPM" package --config "packaging/nfpm/$pkg.yaml" --packager "$fmt" --target "$OUT/" >/dev/null
  done
done
ls -1 "$OUT" | grep -E '^annexa-(agent|collector)[-_]' | sed "s#^#$OUT/#"
