#!/usr/bin/env bash
# Regenerates fleet.jsonl: the evidence the real agent and its four
# plugins collect from the `make demo` host, with the demo's folder
# stripped from paths and the host named gpu-01. Run `make demo` first.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
demo=$PWD/demo
test -f "$demo/agent.yaml" || { echo "run make demo first"; exit 1; }
bin/annexa-agent collect --once --output - --config "$demo/agent.yaml" 2>/dev/null |
  sed -e "s#$demo/host##g" -e 's#"host":"[^"]*"#"host":"gpu-01"#g' > collector/internal/web/testdata/fleet.jsonl
wc -l collector/internal/web/testdata/fleet.jsonl
