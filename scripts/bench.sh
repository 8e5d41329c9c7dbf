#!/usr/bin/env bash
# make bench: Annexa's hot paths side by side with the tools a sysadmin
# would reach for instead, in one run on one machine, reported as ratios.
#  1. dataset inventory (walk + SHA-256 manifest) vs find | sha256sum
#  2. model inventory (sniff, parse, SHA-256) vs openssl and aide --init,
#     and a warm rescan vs find
#  3. spool commits (WAL, synchronous=FULL, 100 records a transaction) vs
#     the sqlite3 shell inserting the same rows the same way
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/bin
work=$(mktemp -d /tmp/annexa-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

now() { date +%s.%N; }
secs() { echo "$2 - $1" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }
command -v bc >/dev/null || { echo "bench needs bc: sudo apt-get install -y bc"; exit 1; }

files=${BENCH_FILES:-20000}
echo "== generating $files files of 4 KiB in 200 datasets plus 4 shards of 64 MiB under $work/root"
root=$work/root
mkdir -p "$root"
for d in $(seq 1 200); do
  mkdir -p "$root/ds$d"
  head -c $((4096 * files / 200)) /dev/urandom | split -b 4096 -a 4 - "$root/ds$d/part-"
done
mkdir -p "$root/shards"
for s in 1 2 3 4; do head -c $((64 << 20)) /dev/urandom > "$root/shards/shard-$s.bin"; done
sync

cat > "$work/agent.yaml" <<YAML
collector:
  url: http://127.0.0.1:9
state_dir: $work/state
plugin_dir: $bin
plugins:
  datasets:
    roots: [$root]
YAML

# Warm the page cache once so both sides read from memory.
find "$root" -type f -print0 | xargs -0 cat > /dev/null

t0=$(now); "$bin/annexa-agent" collect --once --config "$work/agent.yaml" --output "$work/evidence.jsonl"; t1=$(now)
annexa=$(secs "$t0" "$t1")
t0=$(now); (cd "$root" && find . -type f -print0 | xargs -0 -P2 sha256sum > "$work/sums"); t1=$(now)
shasum=$(secs "$t0" "$t1")
t0=$(now); find "$root" -type f > /dev/null; t1=$(now)
findonly=$(secs "$t0" "$t1")
echo
echo "| task | annexa | alternative | ratio annexa/alternative |"
echo "|---|---|---|---|"
printf '| inventory + SHA-256 of %d files (336 MB), cold hash cache | %.2f s | find \\| xargs -P2 sha256sum: %.2f s | %s |\n' "$files" "$annexa" "$shasum" "$(ratio "$annexa" "$shasum")"
printf '| (walk only, for scale) | | find: %.3f s | |\n' "$findonly"

# Models (issue 3): scripts/bench-models.sh, runnable alone.
mkdir -p "$work/models-bench"
./scripts/bench-models.sh "$work/models-bench"

# Access logs: 200,000 sshd lines parsed into events, against grep
# merely counting the failed logins.
logs=$work/logs
mkdir -p "$logs"
for i in $(seq 1 100000); do
  echo "Nov 29 05:00:00 gpu1 sshd[$i]: Failed password for invalid user u$i from 10.0.$((i % 250)).1 port $i ssh2"
  echo "Nov 29 05:00:01 gpu1 sshd[$i]: Accepted publickey for alice from 10.0.0.9 port $i ssh2"
done > "$logs/auth.log"
cat > "$work/access.yaml" <<YAML
collector:
  url: http://127.0.0.1:9
state_dir: $work/state-access
plugin_dir: $bin
plugins:
  access:
    auth_logs: [$logs/auth.log]
YAML
t0=$(now); "$bin/annexa-agent" collect --once --config "$work/access.yaml" --output /dev/null; t1=$(now)
annexa_a=$(secs "$t0" "$t1")
t0=$(now); grep -c 'Failed password' "$logs/auth.log" > /dev/null; t1=$(now)
grep_a=$(secs "$t0" "$t1")
printf '| access: 200,000 sshd lines parsed into events, anomalies, JSON output (plugin start included) | %.2f s | grep -c "Failed password": %.3f s | %s |\n' "$annexa_a" "$grep_a" "$(ratio "$annexa_a" "$grep_a")"
# The parser alone on one core (the issue's 300,000 lines/s), beside
# grep -c sshd over the same file, both as lines per second.
lines_a=$(wc -l < "$logs/auth.log")
parse_a=$(cd plugins/access && ACCESS_BENCH_FILE="$logs/auth.log" go test -run '^$' -bench 'BenchmarkParseFile$' -benchtime 10x -cpu 1 . 2>/dev/null | awk '/lines\/s/ {for (i=1;i<=NF;i++) if ($(i+1)=="lines/s") print $i}')
t0=$(now); grep -c sshd "$logs/auth.log" > /dev/null; t1=$(now)
grep_rate=$(echo "$lines_a / ($(secs "$t0" "$t1"))" | bc -l)
printf '| access parser alone, one core, same 200,000 lines | %.0f lines/s | grep -c sshd: %.0f lines/s | %s (throughput) |\n' "$parse_a" "$grep_rate" "$(ratio "$parse_a" "$grep_rate")"
# Rotated copies: the same lines xz- and zstd-compressed, read into lines
# by the plugin's capped decompressors, beside the real tools piped to grep.
for z in "xz .xz" "zstd .zst"; do
  set -- $z
  "$1" -q -k -f "$logs/auth.log"
  dec_a=$(cd plugins/access && ACCESS_BENCH_FILE="$logs/auth.log$2" go test -run '^$' -bench 'BenchmarkDecompressFile$' -benchtime 5x -cpu 1 . 2>/dev/null | awk '/lines\/s/ {for (i=1;i<=NF;i++) if ($(i+1)=="lines/s") print $i}')
  t0=$(now); "$1" -dc "$logs/auth.log$2" | grep -c sshd > /dev/null; t1=$(now)
  tool_rate=$(echo "$lines_a / ($(secs "$t0" "$t1"))" | bc -l)
  printf '| access: the same lines as a %s rotated copy, decompressed into lines (one core) | %.0f lines/s | %s -dc \| grep -c sshd: %.0f lines/s | %s (throughput) |\n' "$2" "$dec_a" "$1" "$tool_rate" "$(ratio "$dec_a" "$tool_rate")"
done

# Spool: the Go benchmark commits 100 records a transaction.
rec=$(cd agent/internal/spool && go test -run '^$' -bench 'BenchmarkCommit/batch=100$' -benchtime 20x . 2>/dev/null | awk '/records\/s/ {for (i=1;i<=NF;i++) if ($(i+1)=="records/s") print $i}')
n=20000
{
  echo "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
  echo "CREATE TABLE outbox (seq INTEGER PRIMARY KEY, plugin TEXT, kind TEXT, subject TEXT, op TEXT, observed_at TEXT, attributes BLOB);"
  for b in $(seq 0 $((n / 100 - 1))); do
    echo "BEGIN;"
    for i in $(seq 1 100); do
      echo "INSERT INTO outbox (plugin, kind, subject, op, observed_at, attributes) VALUES ('datasets','dataset','dataset:/srv/ml/datasets/d$b-$i','upsert','2026-11-29T00:00:00Z','{\"path\":\"/srv/ml/datasets/d$b-$i\",\"size_bytes\":123456,\"file_count\":12}');"
    done
    echo "COMMIT;"
  done
} > "$work/inserts.sql"
t0=$(now); sqlite3 "$work/shell.db" < "$work/inserts.sql" > /dev/null; t1=$(now)
shell=$(echo "$n / $(secs "$t0" "$t1")" | bc -l)
printf '| spool commit, 100 records a transaction, WAL + synchronous=FULL | %.0f records/s | sqlite3 shell, same rows and transactions: %.0f records/s | %s |\n' "${rec:-0}" "$shell" "$(ratio "${rec:-0}" "$shell")"

# Encryption: (a) the key scan of the dataset tree above against find
# with the same name patterns and a permission test; (b) LUKS headers of
# 100 image files read through the plugin's devices setting against
# cryptsetup luksDump run on each (skipped without cryptsetup).
echo "-----BEGIN PRIVATE KEY-----" > "$root/ds1/tls.key"; chmod 644 "$root/ds1/tls.key"
cat > "$work/enc.yaml" <<YAML
collector:
  url: http://127.0.0.1:9
state_dir: $work/state-enc
plugin_dir: $bin
plugins:
  encryption:
    roots: [$root]
YAML
t0=$(now); "$bin/annexa-agent" collect --once --config "$work/enc.yaml" --output /dev/null; t1=$(now)
annexa_k=$(secs "$t0" "$t1")
t0=$(now); find "$root" -type f \( -name '*.pem' -o -name '*.key' -o -name '*.p12' -o -name 'id_*' -o -name credentials \) -perm /044 > /dev/null; t1=$(now)
find_k=$(secs "$t0" "$t1")
printf '| encryption: volume of a root plus key scan of its %d files (plugin start included) | %.2f s | find -name patterns -perm /044: %.3f s | %s |\n' "$files" "$annexa_k" "$find_k" "$(ratio "$annexa_k" "$find_k")"
if command -v cryptsetup >/dev/null; then
  imgs=$work/luks
  mkdir -p "$imgs"
  printf 'bench' > "$work/pass"
  truncate -s 4M "$imgs/img0"
  cryptsetup luksFormat --type luks2 --batch-mode --key-file "$work/pass" --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
    --luks2-metadata-size 16k --luks2-keyslots-size 1M "$imgs/img0" >/dev/null 2>&1
  for i in $(seq 1 99); do cp --sparse=always "$imgs/img0" "$imgs/img$i"; done
  {
    echo "collector: {url: 'http://127.0.0.1:9'}"
    echo "state_dir: $work/state-luks"
    echo "plugin_dir: $bin"
    echo "plugins:"
    echo "  encryption:"
    echo "    key_scan: false"
    echo "    devices:"
    for i in $(seq 0 99); do echo "      - $imgs/img$i"; done
  } > "$work/luks.yaml"
  t0=$(now); "$bin/annexa-agent" collect --once --config "$work/luks.yaml" --output /dev/null; t1=$(now)
  annexa_l=$(secs "$t0" "$t1")
  t0=$(now); for i in $(seq 0 99); do cryptsetup luksDump "$imgs/img$i" > /dev/null; done; t1=$(now)
  dump_l=$(secs "$t0" "$t1")
  printf '| encryption: LUKS2 headers of 100 image files (plugin start included) | %.2f s | cryptsetup luksDump on each: %.2f s | %s |\n' "$annexa_l" "$dump_l" "$(ratio "$annexa_l" "$dump_l")"
fi

# Datasets at scale: 1,000,000 files in 10,000 datasets, cold and then an
# unchanged rescan (which must read no file), with the plugin's peak RSS,
# against find walking the same tree. BENCH_SCALE_FILES=0 skips it; it
# builds the tree first, which takes minutes.
scale=${BENCH_SCALE_FILES:-1000000}
if [ "$scale" -gt 0 ]; then
  (cd plugins/datasets && ANNEXA_BENCH_SCALE_FILES=$scale go test -run '^$' -bench '^BenchmarkScale$' -benchtime 1x -timeout 60m . | grep '^| datasets plugin')
  # PII sampling throughput on the labelled corpus and on a worst case.
  (cd plugins/datasets/pii && go test -run '^$' -bench 'BenchmarkScan' -benchtime 5x . | awk '/MB\/s/ {print "| pii sampling " $1 " | " $(NF-1) " MB/s | | |"}')
fi
