#!/usr/bin/env bash
# Regenerates fleet.jsonl: the evidence the real agent and the four
# built-in plugins print for a small ML host tree (`annexa-agent collect
# --once --output -`). The report tests ingest it through the SQLite store
# as two hosts, so every export is checked on real plugin output of every
# evidence kind. Run from the repository root after `make build`:
#   collector/internal/report/testdata/make_fleet.sh
set -euo pipefail
cd "$(dirname "$0")/../../../.."
top=$PWD
bin=$top/bin
out=$top/collector/internal/report/testdata/fleet.jsonl
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ds=$work/host/srv/ml/datasets
mkdir -p "$ds/iris" "$ds/customers/2024" "$ds/<script>alert('x')"
printf 'sepal_length,sepal_width,petal_length,petal_width,species\n5.1,3.5,1.4,0.2,setosa\n4.9,3.0,1.4,0.2,setosa\n' > "$ds/iris/iris.csv"
cat > "$ds/iris/README.md" <<'MD'
---
license: cc-by-4.0
pretty_name: Iris
---
# Iris
Fisher's iris measurements.
MD
printf 'id,name,email,phone\n1,Ada Lovelace,ada@example.org,+44 20 7946 0958\n2,Alan Turing,alan@example.org,+44 20 7946 0959\n' > "$ds/customers/2024/part-0000.csv"
chmod 0755 "$ds/customers" "$ds/customers/2024"; chmod 0644 "$ds/customers/2024/part-0000.csv"
# A dataset whose name is markup: every export must show it as text.
printf 'a,b\n1,2\n' > "$ds/<script>alert('x')/data.csv"
chmod -R o-rwx "$ds/iris" "$ds/<script>alert('x')"

models=$work/host/srv/ml/models
mkdir -p "$models/classifier" "$models/downloads"
cp plugins/models/testdata/fixtures/tiny.safetensors "$models/classifier/model.safetensors"
cp plugins/models/testdata/fixtures/tiny.gguf "$models/classifier/chat.gguf"
cp plugins/models/testdata/fixtures/evil.pt "$models/downloads/checkpoint.pt"
# Lineage: the classifier's card names iris by its card's pretty name and a
# hub dataset no host holds; a churn model's card names the customers
# dataset (personal data) by its absolute path.
cat > "$models/classifier/README.md" <<'MD'
---
license: mit
datasets:
  - Iris
  - hf://datasets/tatsu-lab/alpaca
---
# Classifier
MD
mkdir -p "$models/churn"
cp plugins/models/testdata/fixtures/tiny.safetensors "$models/churn/model.safetensors"
cat > "$models/churn/README.md" <<MD
---
license: apache-2.0
datasets:
  - $ds/customers/2024
---
# Churn
MD

logs=$work/host/var/log
mkdir -p "$logs"
cp plugins/access/testdata/auth.log "$logs/auth.log"

cat > "$work/agent.yaml" <<YAML
collector:
  url: http://127.0.0.1:9
state_dir: $work/state
plugin_dir: $bin
plugins:
  datasets:
    roots: [$ds]
  models:
    roots: [$models]
  access:
    auth_logs: [$logs/auth.log]
  encryption:
    asset_roots: [$ds, $models]
    # Nothing listens on the discard port: the endpoint record says so.
    endpoints: [127.0.0.1:9]
YAML
"$bin/annexa-agent" collect --once --config "$work/agent.yaml" --output - > "$work/out.jsonl"
# The tree lives in a temporary folder: name it /fleet so the file does
# not change with every run.
sed "s#$work/host#/fleet#g" "$work/out.jsonl" > "$out"
echo "wrote $(wc -l < "$out") records to $out"
