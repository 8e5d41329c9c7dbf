#!/usr/bin/env bash
# make demo: a sample ML host tree, a collector on loopback with the
# embedded SQLite store, an enrolled agent that collects once and ships,
# and a compliance summary. Everything it starts, it stops.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
bin=$top/bin
demo=$top/demo
rm -rf "$demo"
mkdir -p "$demo"

# Bold only on a terminal: a log file or CI output gets no escape codes.
if [ -t 1 ]; then
  say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
else
  say() { printf '==> %s\n' "$*"; }
fi

say "creating a sample ML host under $demo/host"
ds=$demo/host/srv/ml/datasets
mkdir -p "$ds/iris" "$ds/customers/2024" "$ds/images/train"
printf 'sepal_length,sepal_width,petal_length,petal_width,species\n5.1,3.5,1.4,0.2,setosa\n4.9,3.0,1.4,0.2,setosa\n6.3,3.3,6.0,2.5,virginica\n' > "$ds/iris/iris.csv"
cat > "$ds/iris/README.md" <<'MD'
---
license: cc-by-4.0
pretty_name: Iris
---
# Iris
Fisher's iris measurements, for demos.
MD
printf '{"id":1,"name":"Ada","email":"ada@example.org"}\n{"id":2,"name":"Alan","email":"alan@example.org"}\n' > "$ds/customers/2024/part-0000.jsonl"
# A dataset of customer records that anyone on the host can read: the
# demo's deliberate finding for ISO/IEC 27001 8.3.
chmod 0755 "$ds/customers" "$ds/customers/2024"; chmod 0644 "$ds/customers/2024/part-0000.jsonl"
printf '\x89PNG\r\n\x1a\n0000' > "$ds/images/train/cat-001.png"
printf '\x89PNG\r\n\x1a\n0001' > "$ds/images/train/cat-002.png"
chmod -R o-rwx "$ds/iris" "$ds/images"

# Models written by real tools (plugins/models/testdata/make_fixtures.py):
# safe weights, and a pickle that would run os.system if anyone loaded it.
models=$demo/host/srv/ml/models
mkdir -p "$models/classifier" "$models/downloads"
cp plugins/models/testdata/fixtures/tiny.safetensors "$models/classifier/model.safetensors"
cp plugins/models/testdata/fixtures/tiny.gguf "$models/classifier/chat.gguf"
cp plugins/models/testdata/fixtures/evil.pt "$models/downloads/checkpoint.pt"
# Lineage: model cards name the datasets the models were trained on. The
# churn model's customers dataset holds personal data, which the report's
# lineage section and the model's page in the web UI say.
cat > "$models/classifier/README.md" <<'MD'
---
license: mit
datasets:
  - iris
---
# Classifier
MD
mkdir -p "$models/churn"
cp plugins/models/testdata/fixtures/tiny.safetensors "$models/churn/model.safetensors"
cat > "$models/churn/README.md" <<'MD'
---
license: apache-2.0
datasets:
  - customers
---
# Churn
MD

# An auth log with a brute-force attempt and a direct root login.
logs=$demo/host/var/log
mkdir -p "$logs"
cp plugins/access/testdata/auth.log "$logs/auth.log"

pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

say "starting the collector on a free loopback port (data in $demo/collector)"
"$bin/annexa-collector" serve --listen 127.0.0.1:0 --data "$demo/collector" --plain-http 2>"$demo/collector.log" &
pids+=($!)
for _ in $(seq 1 100); do
  grep -q 'listening on' "$demo/collector.log" 2>/dev/null && break
  sleep 0.1
done
grep -q 'listening on' "$demo/collector.log" || { echo "collector did not start; see $demo/collector.log"; cat "$demo/collector.log"; exit 1; }
url=$(grep -o 'listening on http://[0-9.:]*' "$demo/collector.log" | head -1 | sed 's/listening on //')
echo "collector: $url"

say "writing the agent config $demo/agent.yaml"
cat > "$demo/agent.yaml" <<YAML
collector:
  url: $url
state_dir: $demo/agent-state
plugin_dir: $bin
plugins:
  datasets:
    roots: [$ds]
  models:
    roots: [$models]
  access:
    auth_logs: [$logs/auth.log]
  encryption:
    # Which volume holds the datasets and models, and is it encrypted?
    asset_roots: [$ds, $models]
YAML
"$bin/annexa-agent" config check --config "$demo/agent.yaml"

say "enrolling the agent with a one-time token"
token=$("$bin/annexa-collector" token create --data "$demo/collector")
"$bin/annexa-agent" enroll --collector "$url" --token "$token" --config "$demo/agent.yaml"

say "running the agent: one full collection, shipped to the collector"
"$bin/annexa-agent" run --once --config "$demo/agent.yaml" 2>"$demo/agent.log" || { echo "agent failed; see $demo/agent.log"; tail -20 "$demo/agent.log"; exit 1; }
"$bin/annexa-agent" status --config "$demo/agent.yaml"

say "compliance summary"
"$bin/annexa-collector" report --data "$demo/collector" --format summary
"$bin/annexa-collector" report --data "$demo/collector" --format json --out "$demo/report.json"

say "web UI users"
admin_pw=$("$bin/annexa-collector" users add --data "$demo/collector" --role admin admin | sed -n 's/^password: //p')
auditor_pw=$("$bin/annexa-collector" users add --data "$demo/collector" --role auditor auditor | sed -n 's/^password: //p')

echo
echo "JSON report: $demo/report.json"
echo "logs:        $demo/collector.log $demo/agent.log"
echo
say "web UI: $url/"
echo "  log in as admin   / $admin_pw   (records exceptions and attestations, revokes agents)"
echo "  or as    auditor / $auditor_pw   (reads only)"
if [ -t 0 ]; then
  echo "the collector keeps running; press Enter or Ctrl-C to stop it"
  read -r _ || true
else
  echo "the collector stops with this script; start it again with:"
  echo "  $bin/annexa-collector serve --data $demo/collector --listen ${url#http://} --plain-http"
fi
