#!/usr/bin/env bash
# `weir txn` against a broker started here, with transactions made by a real client
# (confluent-kafka on Debian's librdkafka): list, describe and producers report exactly the ids,
# states, epochs, sequences and offsets the client made; a producer killed with SIGKILL inside a
# transaction holds read_committed readers at its first offset, is not called hanging while its
# coordinator still tracks it, and becomes hanging once the coordinator has lost it (its
# __transaction_state removed while the broker was down, the state KIP-664's tools are for):
# find-hanging reports it, `txn abort --start-offset` (and the --producer-id form) end it, after
# which the last stable offset equals the high watermark and read_committed readers go past it
# without its records. Bad input gets the documented messages and exit codes.
. "$(dirname "$0")/cli_helpers.bash"
cli_start_broker

# txn.py MODE ...: the client side.
#   commit|abort|hang ID TOPIC TIMEOUT_MS PARTITION:VALUE...  one transaction; hang prints
#                                                             "open" once written, then waits
#   read TOPIC PARTITION   "lso=N hw=N values=a,b": the read_committed and read_uncommitted ends
#                          of the partition, and what read_committed reads from its start
cat >"$work/txn.py" <<'EOF'
import sys
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
mode, broker = sys.argv[1], sys.argv[2]
if mode in ("commit", "abort", "hang"):
    tid, topic, timeout = sys.argv[3], sys.argv[4], int(sys.argv[5])
    p = Producer({"bootstrap.servers": broker, "transactional.id": tid,
                  "transaction.timeout.ms": timeout})
    p.init_transactions(20)
    p.begin_transaction()
    for pv in sys.argv[6:]:
        part, val = pv.split(":", 1)
        p.produce(topic, value=val.encode(), partition=int(part))
    if mode == "commit":
        p.commit_transaction(20)
    elif mode == "abort":
        p.flush(20)  # written first: librdkafka drops what is unsent when it aborts
        p.abort_transaction(20)
    else:
        p.flush(20)
        print("open", flush=True)
        sys.stdin.readline()
else:
    topic, part = sys.argv[3], int(sys.argv[4])
    ends = {}
    for iso in ("read_committed", "read_uncommitted"):
        c = Consumer({"bootstrap.servers": broker, "group.id": "txn-test", "isolation.level": iso,
                      "enable.auto.commit": False, "enable.partition.eof": True})
        ends[iso] = c.get_watermark_offsets(TopicPartition(topic, part), timeout=10)[1]
        if iso == "read_committed":
            c.assign([TopicPartition(topic, part, 0)])
            values = []
            while True:
                m = c.poll(10)
                if m is None or (m.error() and m.error().code() == KafkaError._PARTITION_EOF):
                    break
                if not m.error():
                    values.append(m.value().decode())
        c.close()
    print("lso=%d hw=%d values=%s" % (ends["read_committed"], ends["read_uncommitted"],
                                      ",".join(values)))
EOF
txn() { $PY "$work/txn.py" "$1" "$BROKER" "${@:2}"; }

# A producer that opens a transaction and stays in it (its stdin a FIFO this shell holds
# open); zombie_kill kills it with SIGKILL.
declare -A zpid zfd
zombie_start() { # ID PARTITION:VALUE...
    local fd
    mkfifo "$work/zin.$1"
    exec {fd}<>"$work/zin.$1"
    zfd[$1]=$fd
    $PY "$work/txn.py" hang "$BROKER" "$1" tx 600000 "${@:2}" <"$work/zin.$1" >"$work/z.$1" &
    zpid[$1]=$!
    for _ in $(seq 150); do
        grep -q open "$work/z.$1" && break
        sleep 0.2
    done
}
zombie_kill() { # ID
    kill -KILL "${zpid[$1]}"
    wait "${zpid[$1]}" 2>/dev/null
    exec {zfd[$1]}>&-
}

# ---- committed and aborted transactions --------------------------------------------------------
"$WEIR" topic create tx -p 2 >/dev/null
seq 1 2 | "$WEIR" produce tx -p 0 # offsets 0-1 of partition 0, no producer id
txn commit t-commit tx 60000 0:c1 0:c2 1:c3 # pid 0: tx/0 2-3 (marker 4), tx/1 0 (marker 1)
txn abort t-abort tx 60000 1:a1             # pid 1: tx/1 2 (marker 3)

expect_rc "txn list" 0 "$WEIR" txn list
golden txn_list
expect_rc "txn list -o json" 0 "$WEIR" txn list -o json
jcheck "  ... ids, coordinator, producer ids, states" 'd == [
  {"transactional_id": "t-abort", "coordinator": 1, "producer_id": 1, "state": "CompleteAbort"},
  {"transactional_id": "t-commit", "coordinator": 1, "producer_id": 0,
   "state": "CompleteCommit"}]'
expect_rc "txn list --state CompleteCommit" 0 "$WEIR" txn list --state CompleteCommit -q
check "  ... t-commit" test "$(cat "$work/out")" == t-commit
expect_rc "txn list --producer-id 1" 0 "$WEIR" txn list --producer-id 1 -q
check "  ... t-abort" test "$(cat "$work/out")" == t-abort
expect_rc "txn list --state completeabort,CompleteCommit (any case, a list)" 0 "$WEIR" txn list \
    --state completeabort,CompleteCommit -q
check "  ... both" test "$(cat "$work/out" | xargs)" == "t-abort t-commit"
expect_rc "txn list --state Ongoing: none" 0 "$WEIR" txn list --state Ongoing -q
check "  ... nothing" test ! -s "$work/out"

expect_rc "txn describe t-commit" 0 "$WEIR" txn describe t-commit
golden txn_describe
expect_rc "txn describe t-commit -o json" 0 "$WEIR" txn describe t-commit -o json
jcheck "  ... fields" 'd["transactional_id"] == "t-commit" and d["coordinator"] == 1 and
  d["state"] == "CompleteCommit" and d["producer_id"] == 0 and d["producer_epoch"] == 0 and
  d["transaction_timeout_ms"] == 60000 and d["transaction_start_time_ms"] > 0 and
  d["duration_ms"] is None and d["partitions"] == []'

expect_rc "txn producers tx" 0 "$WEIR" txn producers tx
golden txn_producers
expect_rc "txn producers tx -o json" 0 "$WEIR" txn producers tx -o json
jcheck "  ... per partition: id, epoch, last sequence, coordinator epoch, no open transaction" \
    '[(r["partition"], r["producer_id"], r["producer_epoch"], r["last_sequence"],
     r["coordinator_epoch"], r["current_txn_start_offset"]) for r in d] ==
  [(0, 0, 0, 1, 0, None), (1, 0, 0, 0, 0, None), (1, 1, 0, 0, 0, None)] and
  all(r["topic"] == "tx" and r["last_timestamp"] > 0 and r["last_time"].endswith("Z")
      for r in d)'
expect_rc "txn producers tx -p 1" 0 "$WEIR" txn producers tx -p 1 -o json
jcheck "  ... partition 1 only" \
    '[(r["partition"], r["producer_id"]) for r in d] == [(1, 0), (1, 1)]'
expect_rc "txn find-hanging --max-timeout 0: none" 0 "$WEIR" txn find-hanging --max-timeout 0 \
    -o json
jcheck "  ... []" 'd == []'

# ---- a producer killed inside its transaction ---------------------------------------------------
zombie_start t-hang 0:z1 0:z2 0:z3 # pid 2: tx/0 5-7
seq 3 4 | "$WEIR" produce tx -p 0  # offsets 8-9, behind the open transaction
zombie_start t-hang2 1:y1          # pid 3: tx/1 4
check "two producers opened transactions" grep -q open "$work/z.t-hang" "$work/z.t-hang2"
zombie_kill t-hang
zombie_kill t-hang2
sleep 1

expect_rc "txn list --state Ongoing --older-than 1h: none (ListTransactions v1)" 0 "$WEIR" txn \
    list --state Ongoing --older-than 1h -q
check "  ... nothing" test ! -s "$work/out"
expect_rc "txn list --state Ongoing --older-than 500" 0 "$WEIR" txn list --state Ongoing \
    --older-than 500 -o json
jcheck "  ... both, Ongoing" '[(l["transactional_id"], l["producer_id"], l["state"]) for l in d] ==
  [("t-hang", 2, "Ongoing"), ("t-hang2", 3, "Ongoing")]'
expect_rc "txn describe t-hang -o json" 0 "$WEIR" txn describe t-hang -o json
jcheck "  ... Ongoing in tx/0, its timeout, open for a second or more" 'd["state"] == "Ongoing" and
  d["producer_id"] == 2 and d["producer_epoch"] == 0 and d["transaction_timeout_ms"] == 600000
  and d["partitions"] == [{"topic": "tx", "partition": 0}] and d["duration_ms"] >= 1000'
expect_rc "txn producers tx -p 0 -o json" 0 "$WEIR" txn producers tx -p 0 -o json
jcheck "  ... producer 2's transaction starts at 5, no marker yet" \
    '[(r["producer_id"], r["last_sequence"], r["coordinator_epoch"],
     r["current_txn_start_offset"]) for r in d] == [(0, 1, 0, None), (2, 2, None, 5)]'
run $PY "$work/txn.py" read "$BROKER" tx 0
check "read_committed stops at the open transaction: LSO 5, HW 10 ($(cat "$work/out"))" \
    test "$(cat "$work/out")" == "lso=5 hw=10 values=1,2,c1,c2"
expect_rc "find-hanging --max-timeout 0: none, the coordinator still tracks them" 0 "$WEIR" txn \
    find-hanging --max-timeout 0 -o json
jcheck "  ... []" 'd == []'
expect_rc "abort --start-offset 4 (no transaction starts there): exit 3" 3 "$WEIR" txn abort \
    -t tx -p 0 --start-offset 4 --yes
check "  ... says where they start" grep -qx "weir txn abort: no open transaction starts at \
offset 4 of tx/0 (open transactions start at 5)" "$work/err"
expect_rc "abort without --yes and no terminal: exit 2" 2 "$WEIR" txn abort -t tx -p 0 \
    --start-offset 5 </dev/null
check "  ... nothing written" test "$(txn read tx 0)" == "lso=5 hw=10 values=1,2,c1,c2"

# ---- the coordinator loses them: hanging --------------------------------------------------------
kill -TERM "$broker_pid"
wait "$broker_pid"
rm -rf "$work"/data/__transaction_state-* "$work/data/topics/__transaction_state.conf"
cli_start_broker
expect_rc "after a restart without __transaction_state, no coordinator lists them" 0 "$WEIR" \
    txn list -q
check "  ... nothing listed" test ! -s "$work/out"
expect_rc "find-hanging (default max timeout 15 min): none yet" 0 "$WEIR" txn find-hanging
check "  ... the header alone" test "$(wc -l <"$work/out")" == 1
expect_rc "find-hanging --max-timeout 0" 0 "$WEIR" txn find-hanging --max-timeout 0
golden txn_find_hanging
expect_rc "find-hanging --max-timeout 0 -o json" 0 "$WEIR" txn find-hanging --max-timeout 0 \
    -o json
jcheck "  ... both, unknown to any coordinator" '[(h["topic"], h["partition"], h["producer_id"],
  h["producer_epoch"], h["coordinator_epoch"], h["start_offset"], h["transactional_id"])
  for h in d] == [("tx", 0, 2, 0, None, 5, None), ("tx", 1, 3, 0, None, 4, None)] and
  all(h["duration_ms"] >= 1000 for h in d)'
expect_rc "find-hanging -t tx -p 1 --max-timeout 1s" 0 "$WEIR" txn find-hanging -t tx -p 1 \
    --max-timeout 1s -o json
jcheck "  ... the one in partition 1" '[(h["partition"], h["start_offset"]) for h in d] == [(1, 4)]'

expect_rc "abort -t tx -p 0 --start-offset 5 --yes" 0 "$WEIR" txn abort -t tx -p 0 \
    --start-offset 5 --yes
golden txn_abort
expect_rc "abort -t tx -p 1 --producer-id 3 --producer-epoch 0 --coordinator-epoch -1 --yes" 0 \
    "$WEIR" txn abort -t tx -p 1 --producer-id 3 --producer-epoch 0 --coordinator-epoch -1 --yes \
    -o json
jcheck "  ... coordinator epoch -1 sent as 0, as Kafka's tool" 'd == {"topic": "tx", "partition": 1,
  "producer_id": 3, "producer_epoch": 0, "coordinator_epoch": 0, "start_offset": None,
  "status": "aborted"}'
run $PY "$work/txn.py" read "$BROKER" tx 0
check "tx/0: LSO = high watermark 11, read_committed reads past it ($(cat "$work/out"))" \
    test "$(cat "$work/out")" == "lso=11 hw=11 values=1,2,c1,c2,3,4"
run $PY "$work/txn.py" read "$BROKER" tx 1
check "tx/1: LSO = high watermark 6, y1 not read ($(cat "$work/out"))" \
    test "$(cat "$work/out")" == "lso=6 hw=6 values=c3"
expect_rc "txn producers tx -o json" 0 "$WEIR" txn producers tx -o json
jcheck "  ... no open transaction left, the markers' coordinator epoch" \
    '[(r["partition"], r["producer_id"], r["coordinator_epoch"], r["current_txn_start_offset"])
   for r in d if r["producer_id"] >= 2] == [(0, 2, 0, None), (1, 3, 0, None)]'
expect_rc "find-hanging --max-timeout 0: none left" 0 "$WEIR" txn find-hanging --max-timeout 0 \
    -o json
jcheck "  ... []" 'd == []'
expect_rc "abort --start-offset 5 again: exit 3" 3 "$WEIR" txn abort -t tx -p 0 --start-offset 5 \
    --yes
check "  ... none open" grep -qx "weir txn abort: no open transaction starts at offset 5 of tx/0 \
(no open transactions)" "$work/err"

# ---- bad input ---------------------------------------------------------------------------------
expect_rc "producers of an unknown topic: exit 3" 3 "$WEIR" txn producers nope
check "  ... says so" grep -qx "weir txn producers: topic 'nope' not found" "$work/err"
expect_rc "producers of an unknown partition: exit 3" 3 "$WEIR" txn producers tx -p 7
check "  ... says so" grep -qx "weir txn producers: partition tx/7 not found" "$work/err"
expect_rc "find-hanging -t nope: exit 3" 3 "$WEIR" txn find-hanging -t nope
expect_rc "abort in an unknown topic: exit 3" 3 "$WEIR" txn abort -t nope -p 0 --start-offset 1 \
    --yes
expect_rc "producers without a topic: exit 2" 2 "$WEIR" txn producers
expect_rc "describe without an id: exit 2" 2 "$WEIR" txn describe
expect_rc "list --state Bogus: exit 2" 2 "$WEIR" txn list --state Bogus
check "  ... names the states" grep -q "unknown state 'Bogus' (Empty, Ongoing" "$work/err"
expect_rc "list --older-than soon: exit 2" 2 "$WEIR" txn list --older-than soon
expect_rc "list --no-such-flag: exit 2" 2 "$WEIR" txn list --no-such-flag
expect_rc "find-hanging -p 0 without -t: exit 2" 2 "$WEIR" txn find-hanging -p 0
expect_rc "abort without a partition: exit 2" 2 "$WEIR" txn abort --start-offset 5 --yes
expect_rc "abort naming neither offset nor producer: exit 2" 2 "$WEIR" txn abort -t tx -p 0 --yes
expect_rc "abort with --start-offset and --producer-id: exit 2" 2 "$WEIR" txn abort -t tx -p 0 \
    --start-offset 5 --producer-id 2 --yes
expect_rc "abort --producer-id without the epochs: exit 2" 2 "$WEIR" txn abort -t tx -p 0 \
    --producer-id 2 --yes
expect_rc "abort --producer-epoch 40000 (not an int16): exit 2" 2 "$WEIR" txn abort -t tx -p 0 \
    --producer-id 2 --producer-epoch 40000 --coordinator-epoch 0 --yes
expect_rc "txn nope: exit 2" 2 "$WEIR" txn nope
expect_rc "a refused connection: exit 1" 1 "$WEIR" -b 127.0.0.1:1 txn list
check "  ... says so" grep -qx "weir txn list: cannot connect to 127.0.0.1:1: Connection refused" \
    "$work/err"
expect_rc "-X security.protocol=ssl (plaintext only): exit 1" 1 "$WEIR" txn list \
    -X security.protocol=ssl
expect_rc "-X no.such.setting=1: exit 2" 2 "$WEIR" txn list -X no.such.setting=1
expect_rc "describe an unknown transactional id: exit 3" 3 "$WEIR" txn describe nope
check "  ... says so" grep -qx "weir txn describe: transactional id 'nope' not found" "$work/err"
expect_rc "the broker still answers" 0 "$WEIR" txn list -q

# ---- a broker that misbehaves ------------------------------------------------------------------
# fake.py MODE: listens, prints its port, and answers the first request (ApiVersions) badly.
cat >"$work/fake.py" <<'EOF'
import socket, struct, sys, time
mode = sys.argv[1]
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(8)
print(ls.getsockname()[1], flush=True)
while True:
    c, _ = ls.accept()
    size = struct.unpack(">i", c.recv(4, socket.MSG_WAITALL))[0]
    req = c.recv(size, socket.MSG_WAITALL)
    corr = req[4:8]
    if mode == "silent":
        time.sleep(30)
    elif mode == "huge":  # a frame size past the client's cap
        c.sendall(struct.pack(">i", 0x7FFFFFF0) + corr)
    elif mode == "count":  # ApiVersions v3: error 0, then an array count far past the bytes
        body = corr + struct.pack(">h", 0) + bytes([0xFF, 0xFF, 0xFF, 0x0F])
        c.sendall(struct.pack(">i", len(body)) + body)
    elif mode == "corr":  # another request's answer
        body = struct.pack(">i", 12345) + struct.pack(">h", 0) + bytes([1, 0, 0, 0, 0, 0])
        c.sendall(struct.pack(">i", len(body)) + body)
    c.close()
EOF
for m in "silent|ApiVersions: no answer from 127.0.0.1:PORT within 500 ms" \
    "huge|ApiVersions: the answer from 127.0.0.1:PORT is larger than 67108864 bytes" \
    "count|ApiVersions: malformed answer from 127.0.0.1:PORT" \
    "corr|ApiVersions: 127.0.0.1:PORT answered out of step (correlation id 12345, sent 1)"; do
    mode=${m%%|*}
    $PY "$work/fake.py" "$mode" >"$work/fake.port" &
    fpid=$!
    for _ in $(seq 50); do
        [[ -s $work/fake.port ]] && break
        sleep 0.1
    done
    fport=$(cat "$work/fake.port")
    expect_rc "a broker that answers '$mode': exit 1" 1 "$WEIR" -b "127.0.0.1:$fport" \
        --timeout 500ms txn list
    got=$(sed "s/127.0.0.1:$fport/127.0.0.1:PORT/" "$work/err")
    check "  ... $got" test "$got" == "weir txn list: ${m#*|}"
    kill "$fpid"
    wait "$fpid" 2>/dev/null
    rm -f "$work/fake.port"
done

cli_finish
