package main

// The transaction scenarios (issue 13), every name starting with txn_. They run in
// tests/compat/test_txn_differential.sh against a Kafka formatted at transaction.version 1
// (the level Weir serves: AddPartitionsToTxn, EndTxn v4 and below, no epoch bump per
// transaction), and test_differential.sh leaves them out.
//
// Kafka ends a transaction in two steps: EndTxn answers once PrepareCommit/PrepareAbort is
// durable, and the markers reach the partitions after. A client retries
// CONCURRENT_TRANSACTIONS meanwhile, and consumers see the markers a moment later; the
// scenarios do the same, quietly (retried), so either way of writing the markers compares
// equal as long as the end state does.

import (
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// retriable: the codes a client retries in a transaction (CONCURRENT_TRANSACTIONS,
// COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE, NOT_COORDINATOR).
var retriable = map[float64]bool{51: true, 14: true, 15: true, 16: true}

func hasRetriable(v any) bool {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if k == "ErrorCode" {
				if f, ok := x.(float64); ok && retriable[f] {
					return true
				}
			}
			if hasRetriable(x) {
				return true
			}
		}
	case []any:
		for _, x := range t {
			if hasRetriable(x) {
				return true
			}
		}
	}
	return false
}

// retry sends req again while its answer carries a retriable error (for at most 10 s), as a
// client does, and records the first other answer (or the last one) under step. Only
// answers with such an error are sent again: the requests here are not idempotent.
func (s *S) retry(c *conn, step string, req kmsg.Request, v int16) kmsg.Response {
	end := time.Now().Add(10 * time.Second)
	for {
		r, err := c.roundTrip(req, v)
		if err != nil || r == nil || !hasRetriable(toJSON(r)) || time.Now().After(end) {
			return s.record(step, req, v, r, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// quietRetry is retry without the record (set-up).
func (s *S) quietRetry(c *conn, req kmsg.Request, v int16) kmsg.Response {
	end := time.Now().Add(10 * time.Second)
	for {
		r := s.quiet(c, req, v)
		if r == nil || !hasRetriable(toJSON(r)) || time.Now().After(end) {
			return r
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// warmTxn waits (up to three minutes) until the broker's transaction coordinator answers an
// InitProducerId without a retriable error. A fresh Kafka creates __transaction_state only when
// a FindCoordinator for a transactional id asks for it (as every client does first), and
// answers NOT_COORDINATOR to InitProducerId until then; a busy machine also takes a while to
// load it. Without this the first scenario's set-up would fail rather than show a difference.
func warmTxn(addr, prefix string) {
	s := &S{addr: addr, prefix: prefix}
	defer func() {
		recover()
		for _, c := range s.conns {
			c.c.Close()
		}
	}()
	c := s.dial()
	tid := prefix + "warm-up"
	req := initTxnReq(str(tid), 60000)
	for end := time.Now().Add(3 * time.Minute); time.Now().Before(end); {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.CoordinatorType, fc.CoordinatorKeys = 1, []string{tid}
		f, _ := s.quiet(c, fc, 4).(*kmsg.FindCoordinatorResponse)
		if f != nil && len(f.Coordinators) == 1 && f.Coordinators[0].ErrorCode == 0 {
			r := s.quiet(c, req, 4)
			if r != nil && !hasRetriable(toJSON(r)) {
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
		if f == nil {
			c = s.dial() // the connection broke: a new one
		}
	}
}

func initTxnReq(tid *string, timeoutMs int32) *kmsg.InitProducerIDRequest {
	r := kmsg.NewPtrInitProducerIDRequest()
	r.TransactionalID, r.TransactionTimeoutMillis = tid, timeoutMs
	r.ProducerID, r.ProducerEpoch = -1, -1
	return r
}

// txnInit: InitProducerId v4 for tid (60 s timeout), retried past the coordinator's start;
// recorded under step unless step is "".
func (s *S) txnInit(c *conn, step, tid string) (int64, int16) {
	req := initTxnReq(str(tid), 60000)
	var r *kmsg.InitProducerIDResponse
	if step == "" {
		r, _ = s.quietRetry(c, req, 4).(*kmsg.InitProducerIDResponse)
	} else {
		r, _ = s.retry(c, step, req, 4).(*kmsg.InitProducerIDResponse)
	}
	if r == nil || r.ErrorCode != 0 {
		s.note("InitProducerId for "+tid+" (set-up)", "failed")
		panic(stop{})
	}
	return r.ProducerID, r.ProducerEpoch
}

func addPartsReq(tid string, pid int64, epoch int16, topic string, parts ...int32) *kmsg.AddPartitionsToTxnRequest {
	r := kmsg.NewPtrAddPartitionsToTxnRequest()
	r.TransactionalID, r.ProducerID, r.ProducerEpoch = tid, pid, epoch
	t := kmsg.NewAddPartitionsToTxnRequestTopic()
	t.Topic, t.Partitions = topic, parts
	r.Topics = append(r.Topics, t)
	return r
}

func endTxnReq(tid string, pid int64, epoch int16, commit bool) *kmsg.EndTxnRequest {
	r := kmsg.NewPtrEndTxnRequest()
	r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Commit = tid, pid, epoch, commit
	return r
}

func addOffsetsReq(tid string, pid int64, epoch int16, group string) *kmsg.AddOffsetsToTxnRequest {
	r := kmsg.NewPtrAddOffsetsToTxnRequest()
	r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Group = tid, pid, epoch, group
	return r
}

func txnCommitReq(tid, group string, pid int64, epoch int16, gen int32, member, topic string, part int32, offset int64) *kmsg.TxnOffsetCommitRequest {
	r := kmsg.NewPtrTxnOffsetCommitRequest()
	r.TransactionalID, r.Group, r.ProducerID, r.ProducerEpoch = tid, group, pid, epoch
	r.Generation, r.MemberID = gen, member
	t := kmsg.NewTxnOffsetCommitRequestTopic()
	t.Topic = topic
	p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset, p.LeaderEpoch = part, offset, -1
	t.Partitions = append(t.Partitions, p)
	r.Topics = append(r.Topics, t)
	return r
}

func offsetFetchReq(group, topic string, requireStable bool, parts ...int32) *kmsg.OffsetFetchRequest {
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Group, r.RequireStable = group, requireStable
	t := kmsg.NewOffsetFetchRequestTopic()
	t.Topic, t.Partitions = topic, parts
	r.Topics = append(r.Topics, t)
	return r
}

func listOffsetsIso(topic string, part int32, ts int64, isolation int8) *kmsg.ListOffsetsRequest {
	r := listOffsetsReq(topic, part, ts)
	r.IsolationLevel = isolation
	return r
}

func fetchIso(topic string, part int32, offset int64, isolation int8) *kmsg.FetchRequest {
	r := fetchReq(topic, part, offset)
	r.IsolationLevel = isolation
	return r
}

func markersReq(pid int64, epoch int16, commit bool, coordEpoch int32, topic string, parts ...int32) *kmsg.WriteTxnMarkersRequest {
	r := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch = pid, epoch, commit, coordEpoch
	t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	t.Topic, t.Partitions = topic, parts
	m.Topics = append(m.Topics, t)
	r.Markers = append(r.Markers, m)
	return r
}

// txnProduce: a ProduceRequest (acks=-1) of a transactional batch, naming the transactional
// id as a client does (Kafka refuses a transactional batch without it).
func txnProduce(tid, topic string, part int32, records []byte) *kmsg.ProduceRequest {
	r := produceReq(-1, topic, part, records)
	r.TransactionID = str(tid)
	return r
}

// txnBatch: a transactional batch of the producer, records vals, base sequence seq.
func txnBatch(pid int64, epoch int16, seq int32, ts int64, vs ...string) []byte {
	return batch(batchOpt{pid: pid, epoch: epoch, seq: seq, firstTS: ts, txn: true}, vals(vs...)...)
}

// settleTxn waits, quietly, until every partition of topic listed has no open transaction
// (ListOffsets latest under read_committed == under read_uncommitted): the markers of the
// transactions ended before have landed.
func (s *S) settleTxn(c *conn, topic string, parts ...int32) {
	end := time.Now().Add(10 * time.Second)
	for time.Now().Before(end) {
		same := true
		for _, p := range parts {
			a, _ := s.quiet(c, listOffsetsIso(topic, p, -1, 1), 7).(*kmsg.ListOffsetsResponse)
			b, _ := s.quiet(c, listOffsetsIso(topic, p, -1, 0), 7).(*kmsg.ListOffsetsResponse)
			if a == nil || b == nil || len(a.Topics) != 1 || len(b.Topics) != 1 ||
				a.Topics[0].Partitions[0].Offset != b.Topics[0].Partitions[0].Offset {
				same = false
			}
		}
		if same {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// settleState waits, quietly, until DescribeTransactions shows tid in a Complete* or Empty
// state (the coordinator finished writing the markers).
func (s *S) settleState(c *conn, tid string) {
	end := time.Now().Add(10 * time.Second)
	for time.Now().Before(end) {
		req := kmsg.NewPtrDescribeTransactionsRequest()
		req.TransactionalIDs = []string{tid}
		r, _ := s.quiet(c, req, 0).(*kmsg.DescribeTransactionsResponse)
		if r == nil || len(r.TransactionStates) != 1 {
			return
		}
		st := r.TransactionStates[0].State
		if strings.HasPrefix(st, "Complete") || st == "Empty" || r.TransactionStates[0].ErrorCode != 0 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// openTxn: tid's producer begins a transaction on topic's partitions and writes vs to each.
func (s *S) openTxn(c *conn, tid string, pid int64, epoch int16, seq int32, ts int64, topic string, parts []int32, vs ...string) {
	s.quietRetry(c, addPartsReq(tid, pid, epoch, topic, parts...), 3)
	for _, p := range parts {
		s.quiet(c, txnProduce(tid, topic, p, txnBatch(pid, epoch, seq, ts, vs...)), 9)
	}
}

func (s *S) endTxnQuiet(c *conn, tid string, pid int64, epoch int16, commit bool, topic string, parts ...int32) {
	s.quietRetry(c, endTxnReq(tid, pid, epoch, commit), 3)
	s.settleState(c, tid)
	if topic != "" {
		s.settleTxn(c, topic, parts...)
	}
}

func init() {
	add("txn_init_producer_id", "InitProducerId v4 and v1 with a transactional id: first, again (epoch bump), bad timeouts, empty, 5000-byte and 32767-byte ids, KIP-360 with the current, a stale and an unknown producer", func(s *S) {
		c := s.dial()
		tid := s.topic("tid")
		pid, epoch := s.txnInit(c, "first InitProducerId v4", tid)
		s.retry(c, "again: the epoch bumped", initTxnReq(str(tid), 60000), 4)
		s.retry(c, "again at v1", initTxnReq(str(tid), 60000), 1)
		s.both(c, "timeout 0 ms", initTxnReq(str(s.topic("t0")), 0), 4, 1)
		s.both(c, "timeout over transaction.max.timeout.ms (900001 ms)", initTxnReq(str(s.topic("tmax")), 900001), 4, 1)
		s.both(c, "timeout -1 ms", initTxnReq(str(s.topic("tneg")), -1), 4, 1)
		s.retry(c, "empty transactional id", initTxnReq(str(""), 60000), 4)
		s.retry(c, "5000-byte transactional id", initTxnReq(str(s.topic(strings.Repeat("x", 5000))), 60000), 4)
		// The longest a non-flexible STRING holds (v1): 32767 bytes.
		long := s.topic("")
		s.retry(c, "32767-byte transactional id at v1", initTxnReq(str(long+strings.Repeat("y", 32767-len(long))), 60000), 1)
		cur := initTxnReq(str(tid), 60000)
		cur.ProducerID, cur.ProducerEpoch = pid, epoch+2
		s.retry(c, "KIP-360 with the current producer id and epoch: bumped", cur, 4)
		stale := initTxnReq(str(tid), 60000)
		stale.ProducerID, stale.ProducerEpoch = pid, epoch
		s.retry(c, "KIP-360 with a stale epoch", stale, 4)
		unknown := initTxnReq(str(tid), 60000)
		unknown.ProducerID, unknown.ProducerEpoch = pid+1000, epoch
		s.retry(c, "KIP-360 with an unknown producer id", unknown, 4)
		s.retry(c, "idempotent (no transactional id) with a transactional producer's id", func() kmsg.Request {
			r := initTxnReq(nil, 60000)
			r.ProducerID, r.ProducerEpoch = pid, epoch+3
			return r
		}(), 4)
	})

	add("txn_add_partitions_v3", "AddPartitionsToTxn v3 and v1: added, again, old and future epochs, unknown producer id and transactional id, an unknown topic beside a known one, after a commit", func(s *S) {
		c := s.dial()
		t := s.topic("t")
		s.createTopic(c, t, 2, nil)
		tid := s.topic("tid")
		s.txnInit(c, "", tid)
		pid, epoch := s.txnInit(c, "", tid) // epoch 1: epoch 0 is an old one
		s.retry(c, "add partition 0", addPartsReq(tid, pid, epoch, t, 0), 3)
		s.retry(c, "add partitions 0 and 1 (0 again)", addPartsReq(tid, pid, epoch, t, 0, 1), 3)
		s.retry(c, "add at v1", addPartsReq(tid, pid, epoch, t, 1), 1)
		s.both(c, "old epoch", addPartsReq(tid, pid, epoch-1, t, 0), 3, 1)
		s.both(c, "future epoch", addPartsReq(tid, pid, epoch+1, t, 0), 3, 1)
		s.both(c, "unknown producer id", addPartsReq(tid, pid+1000, epoch, t, 0), 3, 1)
		s.both(c, "unknown transactional id", addPartsReq(s.topic("nobody"), pid, epoch, t, 0), 3, 1)
		req := addPartsReq(tid, pid, epoch, t, 1)
		u := kmsg.NewAddPartitionsToTxnRequestTopic()
		u.Topic, u.Partitions = s.topic("missing"), []int32{0}
		req.Topics = append(req.Topics, u)
		s.both(c, "an unknown topic beside a known one", req, 3, 1)
		s.both(c, "a partition the topic does not have", addPartsReq(tid, pid, epoch, t, 9), 3, 1)
		s.quiet(c, txnProduce(tid, t, 0, txnBatch(pid, epoch, 0, t0, "a")), 9)
		s.retry(c, "commit", endTxnReq(tid, pid, epoch, true), 3)
		s.retry(c, "add partition 1 after the commit: a new transaction", addPartsReq(tid, pid, epoch, t, 1), 3)
	})

	add("txn_add_partitions_v4", "AddPartitionsToTxn v4 (KIP-890 batched form) from a client at transaction.version 1: verify-only and adding", func(s *S) {
		c := s.dial()
		t := s.topic("t")
		s.createTopic(c, t, 1, nil)
		tid := s.topic("tid")
		pid, epoch := s.txnInit(c, "", tid)
		mk := func(verify bool) *kmsg.AddPartitionsToTxnRequest {
			r := kmsg.NewPtrAddPartitionsToTxnRequest()
			tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
			tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = tid, pid, epoch, verify
			tt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
			tt.Topic, tt.Partitions = t, []int32{0}
			tx.Topics = append(tx.Topics, tt)
			r.Transactions = append(r.Transactions, tx)
			return r
		}
		s.retry(c, "v4 verify-only before adding", mk(true), 4)
		s.retry(c, "v4 adding", mk(false), 4)
		s.retry(c, "v4 verify-only after adding", mk(true), 4)
	})

	add("txn_add_offsets_txn_offset_commit", "AddOffsetsToTxn v3 and TxnOffsetCommit v3: pending offsets (OffsetFetch require_stable), old epoch, a group not added, a live group's wrong generation, then commit", func(s *S) {
		c := s.dial()
		t := s.topic("t")
		s.createTopic(c, t, 1, nil)
		tid, g := s.topic("tid"), s.topic("g")
		s.waitCoordinator(c, g)
		pid, epoch := s.txnInit(c, "", tid)
		s.both(c, "AddOffsetsToTxn", addOffsetsReq(tid, pid, epoch, g), 3, 1)
		s.both(c, "AddOffsetsToTxn with an old epoch", addOffsetsReq(tid, pid, epoch-1, g), 3, 1)
		s.retry(c, "TxnOffsetCommit v3 (generation -1: a standalone consumer)", txnCommitReq(tid, g, pid, epoch, -1, "", t, 0, 5), 3)
		s.retry(c, "TxnOffsetCommit v0", txnCommitReq(tid, g, pid, epoch, -1, "", t, 0, 5), 0)
		s.call(c, "OffsetFetch v8 require_stable: pending", offsetFetchReq(g, t, true, 0), 7)
		s.call(c, "OffsetFetch v7 without require_stable", offsetFetchReq(g, t, false, 0), 7)
		s.both(c, "TxnOffsetCommit with an old epoch", txnCommitReq(tid, g, pid, epoch-1, -1, "", t, 0, 6), 3, 0)
		s.retry(c, "TxnOffsetCommit for a group not added to the transaction", txnCommitReq(tid, s.topic("other"), pid, epoch, -1, "", t, 0, 7), 3)
		live := s.topic("live")
		member, gen := s.joinedMember(c, live, t, 0)
		s.retry(c, "AddOffsetsToTxn for the live group", addOffsetsReq(tid, pid, epoch, live), 3)
		s.retry(c, "TxnOffsetCommit for the live group, wrong generation", txnCommitReq(tid, live, pid, epoch, gen+1, member, t, 0, 8), 3)
		s.retry(c, "TxnOffsetCommit for the live group, unknown member", txnCommitReq(tid, live, pid, epoch, gen, "nobody", t, 0, 8), 3)
		s.retry(c, "TxnOffsetCommit for the live group, its member and generation", txnCommitReq(tid, live, pid, epoch, gen, member, t, 0, 9), 3)
		s.retry(c, "commit", endTxnReq(tid, pid, epoch, true), 3)
		s.settleState(c, tid)
		s.retry(c, "OffsetFetch require_stable after the commit", offsetFetchReq(g, t, true, 0), 7)
		s.retry(c, "OffsetFetch of the other group", offsetFetchReq(s.topic("other"), t, true, 0), 7)
		s.retry(c, "OffsetFetch of the live group", offsetFetchReq(live, t, true, 0), 7)
	})

	add("txn_end_txn", "EndTxn v3 and v0: an empty transaction, commit, the same commit again, abort after commit, old epoch, unknown producer id; abort of an open one", func(s *S) {
		c := s.dial()
		t := s.topic("t")
		s.createTopic(c, t, 1, nil)
		tid := s.topic("tid")
		pid, epoch := s.txnInit(c, "", tid)
		s.retry(c, "commit with nothing added", endTxnReq(tid, pid, epoch, true), 3)
		s.retry(c, "abort with nothing added", endTxnReq(tid, pid, epoch, false), 3)
		s.quietRetry(c, addPartsReq(tid, pid, epoch, t, 0), 3)
		s.call(c, "transactional produce", txnProduce(tid, t, 0, txnBatch(pid, epoch, 0, t0, "a", "b")), 9)
		s.retry(c, "commit", endTxnReq(tid, pid, epoch, true), 3)
		s.retry(c, "the same commit again (a retry)", endTxnReq(tid, pid, epoch, true), 3)
		s.retry(c, "the same commit at v0", endTxnReq(tid, pid, epoch, true), 0)
		s.retry(c, "abort after the commit", endTxnReq(tid, pid, epoch, false), 3)
		s.both(c, "old epoch", endTxnReq(tid, pid, epoch-1, true), 3, 0)
		s.both(c, "future epoch", endTxnReq(tid, pid, epoch+1, true), 3, 0)
		s.both(c, "unknown producer id", endTxnReq(tid, pid+1000, epoch, true), 3, 0)
		s.both(c, "unknown transactional id", endTxnReq(s.topic("nobody"), pid, epoch, true), 3, 0)
		s.quietRetry(c, addPartsReq(tid, pid, epoch, t, 0), 3)
		s.call(c, "transactional produce", txnProduce(tid, t, 0, txnBatch(pid, epoch, 2, t0, "c")), 9)
		s.retry(c, "abort", endTxnReq(tid, pid, epoch, false), 3)
		s.retry(c, "commit after the abort", endTxnReq(tid, pid, epoch, true), 3)
		s.settleTxn(c, t, 0)
		s.call(c, "fetch read_uncommitted: the batches and both markers", fetchIso(t, 0, 0, 0), 11)
	})

	add("txn_produce_not_added", "Produce v9 and v3 of a transactional batch to a partition not added to the transaction; after adding it (without the transactional id in the request, with it, with another one); a partition not added; an idempotent producer's transactional batch", func(s *S) {
		c := s.dial()
		t := s.topic("t")
		s.createTopic(c, t, 2, nil)
		tid := s.topic("tid")
		pid, epoch := s.txnInit(c, "", tid)
		s.both(c, "not added", txnProduce(tid, t, 0, txnBatch(pid, epoch, 0, t0, "a")), 9, 3)
		s.retry(c, "add partition 0", addPartsReq(tid, pid, epoch, t, 0), 3)
		s.call(c, "added, but the request without its transactional id", produceReq(-1, t, 0, txnBatch(pid, epoch, 0, t0, "a")), 9)
		s.call(c, "added", txnProduce(tid, t, 0, txnBatch(pid, epoch, 0, t0, "a")), 9)
		s.call(c, "partition 1, not added", txnProduce(tid, t, 1, txnBatch(pid, epoch, 0, t0, "b")), 9)
		s.call(c, "another transactional id's name in the request", txnProduce(s.topic("other"), t, 0, txnBatch(pid, epoch, 1, t0, "b")), 9)
		s.call(c, "a transactional batch of an idempotent producer id", func() kmsg.Request {
			r := s.initPID(c, "idempotent producer id", nil)
			if r == nil {
				return produceReq(-1, t, 1, nil)
			}
			return txnProduce(tid, t, 1, txnBatch(r.ProducerID, r.ProducerEpoch, 0, t0, "c"))
		}(), 9)
		s.both(c, "end offsets", listOffsetsReq(t, 0, -1), 7, 5)
		s.call(c, "end offset of partition 1", listOffsetsReq(t, 1, -1), 7)
	})

	add("txn_fetch_read_committed", "Fetch v11 and v4 read_committed and read_uncommitted over a committed, an aborted and an open transaction and a plain record: aborted_transactions, last stable offset", func(s *S) {
		c := s.dial()
		t := s.topic("t")
		s.createTopic(c, t, 1, nil)
		tid := s.topic("tid")
		pid, epoch := s.txnInit(c, "", tid)
		// 0-2 committed, 3 marker; 4-5 aborted, 6 marker; 7 plain; 8-9 open.
		s.openTxn(c, tid, pid, epoch, 0, t0, t, []int32{0}, "c1", "c2", "c3")
		s.endTxnQuiet(c, tid, pid, epoch, true, t, 0)
		s.openTxn(c, tid, pid, epoch, 3, t0+10, t, []int32{0}, "a1", "a2")
		s.endTxnQuiet(c, tid, pid, epoch, false, t, 0)
		s.quiet(c, produceReq(-1, t, 0, batch(batchOpt{firstTS: t0 + 20}, vals("plain")...)), 9)
		s.openTxn(c, tid, pid, epoch, 5, t0+30, t, []int32{0}, "o1", "o2")
		s.both(c, "read_committed from 0", fetchIso(t, 0, 0, 1), 11, 4)
		s.call(c, "read_uncommitted from 0", fetchIso(t, 0, 0, 0), 11)
		s.call(c, "read_committed from 5 (inside the aborted one)", fetchIso(t, 0, 5, 1), 11)
		s.call(c, "read_committed from 7 (past the aborted one)", fetchIso(t, 0, 7, 1), 11)
		s.call(c, "read_committed from 8 (the LSO)", fetchIso(t, 0, 8, 1), 11)
		s.endTxnQuiet(c, tid, pid, epoch, false, t, 0)
		s.call(c, "read_committed from 0 after aborting the open one", fetchIso(t, 0, 0, 1), 11)
	})

	add("txn_listoffsets_isolation", "ListOffsets v7 and v2 with isolation level 1 (the last stable offset) and 0 while a transaction is open, by time too; after it commits", func(s *S) {
		c := s.dial()
		t := s.topic("t")
		s.createTopic(c, t, 1, nil)
		s.fill(c, t, 0, 2, t0)
		tid := s.topic("tid")
		pid, epoch := s.txnInit(c, "", tid)
		s.openTxn(c, tid, pid, epoch, 0, t0+5000, t, []int32{0}, "o1", "o2")
		s.both(c, "latest, read_committed", listOffsetsIso(t, 0, -1, 1), 7, 2)
		s.both(c, "latest, read_uncommitted", listOffsetsIso(t, 0, -1, 0), 7, 2)
		s.call(c, "earliest, read_committed", listOffsetsIso(t, 0, -2, 1), 7)
		s.call(c, "max timestamp, read_committed", listOffsetsIso(t, 0, -3, 1), 7)
		s.call(c, "by time: a committed record, read_committed", listOffsetsIso(t, 0, t0+500, 1), 7)
		s.call(c, "by time: a record past the LSO, read_committed", listOffsetsIso(t, 0, t0+5000, 1), 7)
		s.call(c, "by time: a record past the LSO, read_uncommitted", listOffsetsIso(t, 0, t0+5000, 0), 7)
		s.endTxnQuiet(c, tid, pid, epoch, true, t, 0)
		s.both(c, "latest, read_committed, after the commit", listOffsetsIso(t, 0, -1, 1), 7, 2)
		s.call(c, "by time, read_committed, after the commit", listOffsetsIso(t, 0, t0+5000, 1), 7)
	})

	add("txn_describe_transactions", "DescribeTransactions v0 of an Empty, an Ongoing (two topics), a committed, an aborted and an unknown transactional id", func(s *S) {
		c := s.dial()
		t, u := s.topic("t"), s.topic("u")
		s.createTopic(c, t, 2, nil)
		s.createTopic(c, u, 1, nil)
		empty, ongoing, committed, aborted := s.topic("empty"), s.topic("ongoing"), s.topic("committed"), s.topic("aborted")
		s.txnInit(c, "", empty)
		pid, epoch := s.txnInit(c, "", ongoing)
		s.openTxn(c, ongoing, pid, epoch, 0, t0, t, []int32{1, 0}, "x")
		s.openTxn(c, ongoing, pid, epoch, 0, t0, u, []int32{0}, "y")
		cp, ce := s.txnInit(c, "", committed)
		s.openTxn(c, committed, cp, ce, 0, t0, u, []int32{0}, "z")
		s.endTxnQuiet(c, committed, cp, ce, true, "")
		ap, ae := s.txnInit(c, "", aborted)
		s.openTxn(c, aborted, ap, ae, 0, t0, t, []int32{0}, "w")
		s.endTxnQuiet(c, aborted, ap, ae, false, "")
		req := kmsg.NewPtrDescribeTransactionsRequest()
		req.TransactionalIDs = []string{empty, ongoing, committed, aborted, s.topic("unknown")}
		s.call(c, "describe", req, 0)
	})

	add("txn_list_transactions", "ListTransactions v0 and v1 filtered by this scenario's producer ids: all, by state, an unknown state filter, by duration", func(s *S) {
		c := s.dial()
		t := s.topic("t")
		s.createTopic(c, t, 1, nil)
		a, b, e := s.topic("a-ongoing"), s.topic("b-committed"), s.topic("c-empty")
		pa, ea := s.txnInit(c, "", a)
		s.openTxn(c, a, pa, ea, 0, t0, t, []int32{0}, "x")
		pb, eb := s.txnInit(c, "", b)
		s.openTxn(c, b, pb, eb, 0, t0, t, []int32{0}, "y")
		s.endTxnQuiet(c, b, pb, eb, true, "")
		pe, _ := s.txnInit(c, "", e)
		mine := []int64{pa, pb, pe}
		list := func(states []string, pids []int64, dur int64) *kmsg.ListTransactionsRequest {
			r := kmsg.NewPtrListTransactionsRequest()
			r.StateFilters, r.ProducerIDFilters, r.DurationFilterMillis = states, pids, dur
			return r
		}
		s.both(c, "the three, by producer id", list(nil, mine, -1), 1, 0)
		s.call(c, "Ongoing ones", list([]string{"Ongoing"}, mine, -1), 1)
		s.call(c, "CompleteCommit and Empty ones", list([]string{"CompleteCommit", "Empty"}, mine, -1), 1)
		s.call(c, "an unknown state filter beside a known one", list([]string{"Ongoing", "Bogus"}, mine, -1), 1)
		s.call(c, "an unknown producer id", list(nil, []int64{pa + 1000}, -1), 1)
		time.Sleep(1200 * time.Millisecond)
		s.call(c, "running longer than 1 s", list(nil, mine, 1000), 1)
		s.call(c, "running longer than an hour (Empty has no start time)", list(nil, mine, 3600000), 1)
		s.endTxnQuiet(c, a, pa, ea, false, t, 0)
	})

	add("txn_describe_producers", "DescribeProducers v0: a transactional producer with an open transaction, the same after its commit, an idempotent producer on another partition", func(s *S) {
		c := s.dial()
		t := s.topic("t")
		s.createTopic(c, t, 2, nil)
		tid := s.topic("tid")
		pid, epoch := s.txnInit(c, "", tid)
		s.quiet(c, produceReq(-1, t, 0, batch(batchOpt{firstTS: t0}, vals("plain")...)), 9)
		s.openTxn(c, tid, pid, epoch, 0, t0+100, t, []int32{0}, "a", "b", "c")
		if r := s.initPID(c, "idempotent producer id", nil); r != nil {
			s.quiet(c, produceReq(-1, t, 1, batch(batchOpt{pid: r.ProducerID, epoch: r.ProducerEpoch, firstTS: t0 + 200}, vals("i1", "i2")...)), 9)
		}
		req := kmsg.NewPtrDescribeProducersRequest()
		tt := kmsg.NewDescribeProducersRequestTopic()
		tt.Topic, tt.Partitions = t, []int32{0, 1, 7}
		req.Topics = append(req.Topics, tt)
		s.call(c, "open transaction on 0, idempotent on 1, unknown 7", req, 0)
		s.endTxnQuiet(c, tid, pid, epoch, true, t, 0)
		s.call(c, "after the commit", req, 0)
	})

	add("txn_write_txn_markers", "WriteTxnMarkers v1 (what Admin abortTransaction sends): abort an open transaction on one partition, a stale epoch, an unknown partition", func(s *S) {
		c := s.dial()
		t := s.topic("t")
		s.createTopic(c, t, 2, nil)
		tid := s.topic("tid")
		pid, epoch := s.txnInit(c, "", tid)
		s.openTxn(c, tid, pid, epoch, 0, t0, t, []int32{0, 1}, "a", "b")
		s.call(c, "abort marker on partition 0", markersReq(pid, epoch, false, 0, t, 0), 1)
		s.call(c, "latest, read_committed, partition 0", listOffsetsIso(t, 0, -1, 1), 7)
		s.call(c, "latest, read_committed, partition 1 (still open)", listOffsetsIso(t, 1, -1, 1), 7)
		s.call(c, "a marker with an older epoch on partition 1", markersReq(pid, epoch-1, false, 0, t, 1), 1)
		s.call(c, "a marker for an unknown partition", markersReq(pid, epoch, false, 0, t, 5), 1)
		s.call(c, "a marker for an unknown topic", markersReq(pid, epoch, false, 0, s.topic("missing"), 0), 1)
		s.call(c, "read_committed fetch of partition 0", fetchIso(t, 0, 0, 1), 11)
		s.endTxnQuiet(c, tid, pid, epoch, false, t, 0, 1)
	})
}
