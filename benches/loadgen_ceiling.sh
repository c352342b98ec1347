#!/usr/bin/env bash
# loadgen's own ceiling against a trivial hyper echo server, beside h2load
# (HTTP/2) and wrk (HTTP/1.1) with the same connections on the same cores:
# the server on core 0, the client on core 1. Then the first writes of a
# burst over 10,000 pre-opened connections against the kernel's floor.
# Prints ratios measured in this run, and each client's CPU per request. Needs: nghttp2-client (h2load), wrk, util-linux (taskset).
#
#   benches/loadgen_ceiling.sh [seconds per run, default 5]   (REPS=3 CONNS=64 STREAMS=8)
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
CONNS=${CONNS:-64}
STREAMS=${STREAMS:-8}
command -v h2load >/dev/null || apt-get install -y -q nghttp2-client >/dev/null
command -v wrk >/dev/null || apt-get install -y -q wrk >/dev/null
cargo build --release -q -p clickday-loadgen --bin clickday-loadgen --example echo-server --example write-floor
BIN=target/release
OUT=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
taskset -c 0 $BIN/examples/echo-server 127.0.0.1:$PORT 2>/dev/null &
ECHO=$!
trap 'kill $ECHO 2>/dev/null; rm -rf $OUT' EXIT
sleep 0.5

# The baselines send a request of loadgen's own shape and size: its
# application document (250 bytes, as workload.rs builds it) and fields of
# the same lengths, so the server does the same work for each client.
python3 - "$OUT" <<'PY'
import sys, json
out = sys.argv[1]
body = json.dumps({"application_id": "app-0", "category": "lavoro-domestico", "click_day": "echo",
                   "data": {"employer": {"account": "lg1-0", "province": "RM"}, "hours_per_week": 20,
                            "worker": {"birth_date": "1960-01-10", "name": "Ana", "surname": "Pop"}},
                   "form": "LG-2026", "province": "RM"}, separators=(",", ":"))
assert len(body) == 250, len(body)
open(f"{out}/body.json", "w").write(body)
open(f"{out}/post.lua", "w").write(
    'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
    'wrk.headers["Clickday-Key"] = "00000000000000000000000000000000"\n'
    'wrk.headers["Clickday-Signature"] = "' + "A" * 86 + '"\n'
    f"wrk.body = {json.dumps(body)}\n")
PY

per_sec() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(round(r['totals']['acknowledged_per_second']))" "$1"; }
# Client CPU per request, so a run limited by the server (both clients
# below a full core) is told apart from one limited by the client:
# loadgen's own figure for its measurement window (its report's cpu), and
# the baseline's whole process (user + system, from bash's `time`).
lg_cpu() { python3 -c "import json,sys; r=json.load(open(sys.argv[1])); c=r['cpu']; print(round(c['loadgen_busy']*c['cores']*c['seconds']*1e6/r['totals']['acknowledged'], 1))" "$1"; }
timed() { local TIMEFORMAT='%U %S'; { time "$@" 2>/dev/null; } 2> $OUT/cpu; }
base_cpu() { python3 -c "import sys; u,s=map(float,open(sys.argv[1]).read().split()); print(round((u+s)*1e6/int(sys.argv[2]), 1))" $OUT/cpu "$1"; }

# Closed loop, same concurrency for both tools: CONNS connections x STREAMS.
# The machine is shared and noisy, so the tools take turns REPS times and
# the medians are compared. Enough pre-signed requests that loadgen does
# not run out within SECS.
REPS=${REPS:-3}
REQS=$(( 70000 * SECS ))
median() { python3 -c "import sys,statistics; print(round(statistics.median(float(x) for x in sys.argv[1:])))" "$@"; }
median_f() { python3 -c "import sys,statistics; print(round(statistics.median(float(x) for x in sys.argv[1:]), 1))" "$@"; }
LG_H2=(); H2LOAD=(); LG_H1=(); WRK=(); CPU_LG_H2=(); CPU_H2LOAD=(); CPU_LG_H1=(); CPU_WRK=()
for rep in $(seq $REPS); do
  taskset -c 1 $BIN/clickday-loadgen closed --quiet --target $URL --protocol h2 --connections $CONNS --streams $STREAMS \
    --seed 1 --accounts 1000 --per-account $(( REQS / 1000 )) --duration ${SECS}s --out $OUT/h2.json > /dev/null 2>&1
  LG_H2+=($(per_sec $OUT/h2.json)); CPU_LG_H2+=($(lg_cpu $OUT/h2.json))
  timed taskset -c 1 h2load -t 1 -c $CONNS -m $STREAMS -D $SECS -d $OUT/body.json \
    -H 'content-type: application/json' -H 'clickday-key: 00000000000000000000000000000000' \
    -H "clickday-signature: $(printf 'A%.0s' $(seq 86))" $URL/v1/submissions > $OUT/h2load.txt
  H2LOAD+=($(awk '/^finished in/ {gsub(",","",$4); print int($4)}' $OUT/h2load.txt))
  CPU_H2LOAD+=($(base_cpu $(awk '/^requests:/ {print $6}' $OUT/h2load.txt)))
  taskset -c 1 $BIN/clickday-loadgen closed --quiet --target $URL --protocol h1 --connections $CONNS \
    --seed 1 --accounts 1000 --per-account $(( REQS / 1000 )) --duration ${SECS}s --out $OUT/h1.json > /dev/null 2>&1
  LG_H1+=($(per_sec $OUT/h1.json)); CPU_LG_H1+=($(lg_cpu $OUT/h1.json))
  timed taskset -c 1 wrk -t 1 -c $CONNS -d ${SECS}s -s $OUT/post.lua $URL/v1/submissions > $OUT/wrk.txt
  WRK+=($(awk '/^Requests\/sec/ {print int($2)}' $OUT/wrk.txt))
  CPU_WRK+=($(base_cpu $(awk '/ requests in / {print $1}' $OUT/wrk.txt)))
done
echo "== HTTP/2, $CONNS connections x $STREAMS streams, client on core 1, server on core 0 (runs: ${LG_H2[*]} / ${H2LOAD[*]})"
A=$(median "${LG_H2[@]}"); B=$(median "${H2LOAD[@]}")
echo "loadgen h2: $A req/s   h2load: $B req/s   ratio loadgen/h2load: $(python3 -c "print(round($A/$B,2))")"
C=$(median_f "${CPU_LG_H2[@]}"); D=$(median_f "${CPU_H2LOAD[@]}")
# What each request cost its client, beside the throughput the server allowed.
echo "client CPU per request (median): loadgen $C us, h2load $D us   ratio loadgen/h2load: $(python3 -c "print(round($C/$D,2))")"
echo "== HTTP/1.1, $CONNS connections (runs: ${LG_H1[*]} / ${WRK[*]})"
A=$(median "${LG_H1[@]}"); B=$(median "${WRK[@]}")
echo "loadgen h1: $A req/s   wrk: $B req/s   ratio loadgen/wrk: $(python3 -c "print(round($A/$B,2))")"
C=$(median_f "${CPU_LG_H1[@]}"); D=$(median_f "${CPU_WRK[@]}")
# What each request cost its client, beside the throughput the server allowed.
echo "client CPU per request (median): loadgen $C us, wrk $D us   ratio loadgen/wrk: $(python3 -c "print(round($C/$D,2))")"

echo "== start: bursts over 10,000 connections opened before the instant (both cores, shared with the server)"
# Each burst is followed by the kernel's floor in the same run: one thread
# writing a request of the same size to each of 10,000 open loopback
# connections to the same server. The box is noisy, so REPS pairs per
# protocol and the median of their ratios.
for rep in $(seq $REPS); do
  for proto in h1 h2; do
    $BIN/clickday-loadgen burst --quiet --target $URL --protocol $proto --connections 10000 --streams 1 \
      --seed 2 --accounts 10000 --per-account 1 --in 20s --out $OUT/skew-$proto-$rep.json > /dev/null 2>&1
    $BIN/examples/write-floor 127.0.0.1:$PORT 10000 > $OUT/floor-$proto-$rep.json
  done
done
python3 - $OUT $REPS <<'PY'
import json, statistics, sys
out, reps = sys.argv[1], int(sys.argv[2])
ms = lambda us: f"{us/1000:.1f}"
for proto in ["h1", "h2"]:
    ratios = []
    for rep in range(1, reps + 1):
        r = json.load(open(f"{out}/skew-{proto}-{rep}.json"))
        floor = json.load(open(f"{out}/floor-{proto}-{rep}.json"))
        w, c = r["first_write_skew"], r["connections"]
        ratios.append(w["p99_us"] / floor["p99_us"])
        print(f"{proto} run {rep}: {c['warm_at_start']} of {c['requested']} warm; first write per connection "
              f"p50 {ms(w['p50_us'])} p99 {ms(w['p99_us'])} max {ms(w['max_us'])} ms; "
              f"floor p50 {ms(floor['p50_us'])} p99 {ms(floor['p99_us'])} ms; ratio {ratios[-1]:.2f}")
    print(f"{proto} first-write p99 / floor p99: median {statistics.median(ratios):.2f} (target <= 1.0, moonshot 0.6)")
PY
