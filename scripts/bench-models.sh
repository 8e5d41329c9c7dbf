#!/usr/bin/env bash
# The models section of make bench (issue 3, item 7), runnable alone:
#   scripts/bench-models.sh [WORKDIR]
# A tree of BENCH_MODEL_FILES small safetensors files (4 KiB of random
# weights each, in 500 folders) plus four 256 MiB ones is inventoried by
# `annexa-agent collect --once` (content sniff, header parse and range
# checks, SHA-256, evidence for every model through the agent, no state
# kept) and, in the same run on the same page-cached data, by
#   find ROOT -type f -print0 | xargs -0 -P2 openssl dgst -sha256
#   aide --init with a sha256-only rule and 2 workers
# then, in process, the floor (the same files hashed by a bare Go walk,
# no parsing, no evidence) and the daemon's scans: the unchanged tree is rescanned
# (state warm, unchanged models confirmed, not sent) against a bare
#   find ROOT -type f
# Every side is timed with GNU time: wall, user+system CPU and peak RSS.
# The machine is shared, so CPU seconds are the steadier comparison.
# BENCH_MODELS_DIR keeps the generated tree between runs (it takes about a
# minute to make); BENCH_MODELS_REPEAT runs the comparison that many times.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/bin
work=${1:-}
if [ -z "$work" ]; then
  work=$(mktemp -d /tmp/annexa-bench-models.XXXXXX)
  trap 'rm -rf "$work"' EXIT
fi
command -v bc >/dev/null || { echo "bench needs bc: sudo apt-get install -y bc"; exit 1; }
[ -x "$bin/annexa-agent" ] || { echo "run make build first"; exit 1; }

mfiles=${BENCH_MODEL_FILES:-100000}
mdir=${BENCH_MODELS_DIR:-$work/models}
if [ ! -e "$mdir/.complete-$mfiles" ]; then
  rm -rf "$mdir"
  mkdir -p "$mdir"
  echo "== generating $mfiles small safetensors files and 4 x 256 MiB under $mdir"
  perl -e '
    my ($dir, $n) = @ARGV;
    open(my $rnd, "<", "/dev/urandom") or die;
    for my $i (1 .. $n) {
      my $sub = sprintf("%s/m%03d", $dir, $i % 500);
      mkdir $sub;
      my $len = 4096;
      my $h = sprintf(q({"w":{"dtype":"U8","shape":[%d],"data_offsets":[0,%d]}}), $len, $len);
      $h .= " " x ((8 - length($h) % 8) % 8);
      read($rnd, my $data, $len);
      open(my $f, ">", "$sub/model-$i.safetensors") or die;
      print $f pack("Q<", length($h)), $h, $data;
      close $f;
    }' "$mdir" "$mfiles"
  big=$((256 << 20))
  bighdr='{"w":{"dtype":"U8","shape":['$big'],"data_offsets":[0,'$big']}}'
  for s in 1 2 3 4; do
    { perl -e 'print pack("Q<", length($ARGV[0])), $ARGV[0]' "$bighdr"; head -c $big /dev/urandom; } > "$mdir/shard-$s.safetensors"
  done
  sync
  touch "$mdir/.complete-$mfiles"
fi

cat > "$work/models.yaml" <<YAML
collector:
  url: http://127.0.0.1:9
state_dir: $work/state-models
plugin_dir: $bin
plugins:
  models:
    roots: [$mdir]
    exclude: [".complete-*"]
    workers: 2
    max_hash_bytes_per_second: 0
    io_priority: normal
YAML
cat > "$work/aide.conf" <<AIDE
database_out=file:$work/aide.db
gzip_dbout=no
Sha = sha256
$mdir Sha
!$mdir/\.complete-.*
AIDE

# timed NAME CMD...: runs CMD under GNU time; sets NAME_wall, NAME_cpu
# (user + system seconds, children included) and NAME_rss (MiB).
timed() {
  local name=$1; shift
  /usr/bin/time -f '%e %U %S %M' -o "$work/time.$name" "$@"
  read -r w u s m < "$work/time.$name"
  printf -v "${name}_wall" '%s' "$w"
  printf -v "${name}_cpu" '%s' "$(echo "$u + $s" | bc -l)"
  printf -v "${name}_rss" '%s' "$((m / 1024))"
}
ratio() { echo "scale=2; $1 / $2" | bc -l; }

(cd plugins/models && go test -c -o "$work/models.test" . )
# The page cache is warmed once, so every side reads from memory.
find "$mdir" -type f -print0 | xargs -0 cat > /dev/null
gib=$(du -sb "$mdir" | awk '{printf "%.2f", $1 / 1073741824}')
repeat=${BENCH_MODELS_REPEAT:-1}
for run in $(seq 1 "$repeat"); do
  load0=$(cut -d' ' -f1-3 /proc/loadavg)
  rm -rf "$work/state-models" "$work/aide.db"
  timed annexa "$bin/annexa-agent" collect --once --config "$work/models.yaml" --output "$work/models.jsonl"
  nmodels=$(grep -c '"kind":"model"' "$work/models.jsonl" || true)
  timed openssl sh -c "find '$mdir' -type f -print0 | xargs -0 -P2 openssl dgst -sha256 > '$work/openssl.sums'"
  have_aide=
  if command -v aide >/dev/null; then
    have_aide=1
    timed aide sh -c "aide --init --workers=2 --config='$work/aide.conf' > /dev/null"
  fi
  # In process: collect --once's scratch collection (the plugin's share of
  # the inventory above), then the daemon's case: a cold collection, one
  # full resend from the state, and full rescans with the state warm that
  # confirm the unchanged models rather than send them (every record sent
  # is checked as the SDK does before sending it).
  timed inproc "$work/models.test" -test.run '^$' -test.bench BenchmarkInventoryTree -test.benchtime 3x \
    -bench-models-root "$mdir" > "$work/rescan.txt"
  "$work/models.test" -test.run '^$' -test.bench BenchmarkBareHashTree -test.benchtime 1x \
    -bench-models-root "$mdir" >> "$work/rescan.txt"
  field() { awk -v f="$1" '/Benchmark(InventoryTree|BareHashTree)/ {for (i=1;i<=NF;i++) if ($(i+1)==f) print $i}' "$work/rescan.txt"; }
  # find is timed over ten runs: one takes a few tens of milliseconds,
  # near the resolution of the CPU clock.
  timed find sh -c "for i in 1 2 3 4 5 6 7 8 9 10; do find '$mdir' -type f > /dev/null; done"
  find_wall=$(echo "$find_wall / 10" | bc -l); find_cpu=$(echo "$find_cpu / 10" | bc -l)
  load1=$(cut -d' ' -f1-3 /proc/loadavg)
  echo
  echo "models bench, run $run of $repeat: $(date -u +%FT%TZ), $(nproc) cores, load average $load0 before, $load1 after"
  echo "| task | annexa | alternative | ratio (wall) | ratio (CPU) |"
  echo "|---|---|---|---|---|"
  printf '| inventory of %d small safetensors + 4 x 256 MiB (%s GiB, %s models), `collect --once` (no state) | %.2f s wall, %.2f s CPU, peak RSS %d MiB | `find | xargs -0 -P2 openssl dgst -sha256`: %.2f s wall, %.2f s CPU | %s | %s |\n' \
    "$mfiles" "$gib" "$nmodels" "$annexa_wall" "$annexa_cpu" "$annexa_rss" "$openssl_wall" "$openssl_cpu" \
    "$(ratio "$annexa_wall" "$openssl_wall")" "$(ratio "$annexa_cpu" "$openssl_cpu")"
  if [ -n "$have_aide" ]; then
    printf '| same inventory | | `aide --init`, sha256 only, 2 workers: %.2f s wall, %.2f s CPU, peak RSS %d MiB | %s | %s |\n' \
      "$aide_wall" "$aide_cpu" "$aide_rss" "$(ratio "$annexa_wall" "$aide_wall")" "$(ratio "$annexa_cpu" "$aide_cpu")"
  else
    echo "| same inventory | | aide not installed (apt-get install -y aide) | | |"
  fi
  printf '| in process, the floor: the same files walked and hashed by the plainest Go (`filepath.WalkDir`, 2 goroutines of `os.Open` + `io.CopyBuffer` into SHA-256, no parsing, no evidence) | %.2f s wall, %.2f s CPU | `find | xargs -0 -P2 openssl dgst -sha256` above | %s | %s |\n' \
    "$(field bare-s)" "$(field bare-cpu-s)" "$(ratio "$(field bare-s)" "$openssl_wall")" "$(ratio "$(field bare-cpu-s)" "$openssl_cpu")"
  printf '| in process: collect --once'"'"'s collection %.2f s wall / %.2f s CPU; the daemon'"'"'s first collection %.2f s / %.2f s CPU, a full resend %.2f s; rescan of the unchanged tree, state warm | %.3f s wall, %.3f s CPU; peak RSS %d MiB | `find -type f`: %.3f s wall, %.3f s CPU | %s | %s |\n' \
    "$(field once-s)" "$(field once-cpu-s)" "$(field cold-s)" "$(field cold-cpu-s)" "$(field resend-s)" "$(field rescan-s)" "$(field rescan-cpu-s)" "$inproc_rss" "$find_wall" "$find_cpu" \
    "$(ratio "$(field rescan-s)" "$find_wall")" "$(ratio "$(field rescan-cpu-s)" "$find_cpu")"
done
# A tree made for this run goes; one named by BENCH_MODELS_DIR stays.
[ -n "${BENCH_MODELS_DIR:-}" ] || rm -rf "$mdir"
