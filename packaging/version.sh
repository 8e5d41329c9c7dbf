#!/bin/sh
# Prints Annexa's version, one scheme for the binaries (--version, what
# agents report to the collector) and the packages, so that `agents list
# --min-version` can order every build:
#   packaging/version.sh              the semantic version of this checkout:
#       on tag v1.2.3                 1.2.3
#       3 commits after v1.2.3        1.2.3+3.gabc1234  (build metadata: orders as 1.2.3)
#       no release tag                0.0.0-git.20261129104400.gabc1234  (a pre-release of 0.0.0)
#       uncommitted changes           +dirty (or .dirty) appended as build metadata
#   packaging/version.sh --package V  V as a package version: the pre-release
#       hyphen becomes ~, which dpkg and rpm sort before the release as
#       semantic versioning does (0.0.0-git.X -> 0.0.0~git.X)
set -eu
cd "$(dirname "$0")/.."

if [ "${1:-}" = --package ]; then
  [ $# -eq 2 ] || { echo "usage: $0 --package VERSION" >&2; exit 2; }
  case "$2" in
    [0-9]*) ;;
    *) echo "version: $2 does not start with a digit, which dpkg and rpm need; build with make build" >&2; exit 1 ;;
  esac
  # Only the hyphen before the first + is a pre-release marker.
  core=${2%%+*}
  meta=${2#"$core"}
  printf '%s%s\n' "$(printf '%s' "$core" | sed 's/-/~/')" "$meta"
  exit 0
fi
[ $# -eq 0 ] || { echo "usage: $0 [--package VERSION]" >&2; exit 2; }

if tag=$(git describe --tags --match 'v[0-9]*' 2>/dev/null); then
  # v1.2.0-3-gabc123 -> 1.2.0+3.gabc123
  v=$(echo "$tag" | sed 's/^v//; s/-/+/; s/-/./')
else
  when=$(git log -1 --format=%cd --date=format:%Y%m%d%H%M%S 2>/dev/null || date -u +%Y%m%d%H%M%S)
  hash=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  v=0.0.0-git.$when.g$hash
fi
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  case "$v" in *+*) v=$v.dirty ;; *) v=$v+dirty ;; esac
fi
echo "$v"
