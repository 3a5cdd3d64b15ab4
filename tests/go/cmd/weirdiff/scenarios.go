package main

import (
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The first timestamp of every batch a scenario writes: fixed, in the past, within retention
// of neither broker's cleaner (retention.ms default 7 days counts from the newest timestamp).
var t0 = time.Now().Add(-time.Hour).Truncate(time.Hour).UnixMilli()

// The API versions issue 12 asks Weir to serve ("oldest accepted - newest at least").
var targets = []struct {
	key      int16
	min, max int16
}{{0, 0, 11}, {1, 4, 16}, {2, 1, 8}, {3, 0, 12}, {8, 2, 9}, {9, 1, 9}, {10, 0, 5}, {11, 0, 9},
	{12, 0, 4}, {13, 0, 5}, {14, 0, 5}, {15, 0, 5}, {16, 0, 5}, {18, 0, 3}, {19, 2, 7}, {20, 1, 6},
	{21, 0, 2}, {22, 0, 5}, {23, 2, 4}, {32, 1, 4}, {33, 0, 2}, {35, 1, 4}, {37, 0, 3}, {42, 0, 2},
	{43, 0, 2}, {44, 0, 1}, {45, 0, 0}, {46, 0, 0}, {47, 0, 0}, {60, 0, 1}, {61, 0, 0}, {68, 0, 1},
	{69, 0, 0}, {75, 0, 0}}

func init() {
	add("apiversions_targets", "ApiVersions v3: every API key issue 12 names, served over its target range", func(s *S) {
		c := s.dial()
		req := kmsg.NewPtrApiVersionsRequest()
		req.ClientSoftwareName, req.ClientSoftwareVersion = "weirdiff", "1.0"
		r, _ := s.quiet(c, req, 3).(*kmsg.ApiVersionsResponse)
		if r == nil {
			s.note("ApiVersions v3", "no answer")
			return
		}
		s.note("error code", r.ErrorCode)
		have := map[int16][2]int16{}
		for _, k := range r.ApiKeys {
			have[k.ApiKey] = [2]int16{k.MinVersion, k.MaxVersion}
		}
		cover := map[string]string{}
		for _, t := range targets {
			v, ok := have[t.key]
			name := kmsg.NameForKey(t.key)
			switch {
			case !ok:
				cover[name] = "not advertised"
			case v[0] > t.min || v[1] < t.max:
				cover[name] = "does not cover the target range"
			default:
				cover[name] = "covers the target range"
			}
		}
		s.note("coverage", cover)
		var tv int16 = -1
		for _, f := range r.FinalizedFeatures {
			if f.Name == "transaction.version" {
				tv = f.MaxVersionLevel
			}
		}
		s.note("finalized transaction.version below 2", tv < 2)
	})

	add("apiversions_unsupported_version", "ApiVersions v127: UNSUPPORTED_VERSION with the ApiVersions range in a v0 body (KIP-511)", func(s *S) {
		c := s.dial()
		r, _ := s.quiet(c, kmsg.NewPtrApiVersionsRequest(), 127).(*kmsg.ApiVersionsResponse)
		if r == nil {
			s.note("answer", "none")
			return
		}
		s.note("error code", r.ErrorCode)
		for _, k := range r.ApiKeys {
			if k.ApiKey == 18 {
				s.note("ApiVersions min", k.MinVersion)
			}
		}
	})

	add("metadata_v12_topic", "Metadata v12 for a 3-partition topic: partitions, leaders, epochs, ISR, topic id", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 3, nil)
		s.both(c, "metadata", metaReq(false, s.topic("t")), 12, 8)
	})

	add("metadata_v12_unknown_topic", "Metadata v12 for an unknown topic, auto-creation off: UNKNOWN_TOPIC_OR_PARTITION", func(s *S) {
		c := s.dial()
		s.both(c, "metadata", metaReq(false, s.topic("missing")), 12, 8)
	})

	add("metadata_v4_autocreate", "Metadata v4 with auto-creation for a new topic, then again", func(s *S) {
		c := s.dial()
		s.call(c, "first metadata", metaReq(true, s.topic("auto")), 4)
		s.waitTopic(c, s.topic("auto"), 1)
		s.call(c, "second metadata", metaReq(true, s.topic("auto")), 4)
	})

	add("metadata_v10_authorized_operations", "Metadata v10 asking for cluster and topic authorized operations (no authorizer)", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		req := metaReq(false, s.topic("t"))
		req.IncludeClusterAuthorizedOperations, req.IncludeTopicAuthorizedOperations = true, true
		s.call(c, "metadata", req, 10)
	})

	add("metadata_v0_invalid_topic_name", "Metadata v1 and v12 for an invalid topic name", func(s *S) {
		c := s.dial()
		s.call(c, "metadata v1", metaReq(true, "bad/name"), 1)
		c2 := s.dial()
		s.call(c2, "metadata v12", metaReq(true, "bad/name"), 12)
	})

	add("describe_cluster_v1", "DescribeCluster v1: brokers, controller, cluster id, endpoint type", func(s *S) {
		c := s.dial()
		req := kmsg.NewPtrDescribeClusterRequest()
		req.EndpointType = 1
		s.call(c, "describe cluster", req, 1)
	})

	add("produce_v9_offsets", "Produce v9 (flexible) acks=-1: base offsets, log append time, log start offset", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		s.produce(c, "first batch of 3", s.topic("t"), 0, 9, batch(batchOpt{firstTS: t0}, vals("a", "b", "c")...))
		s.produce(c, "second batch of 2", s.topic("t"), 0, 9, batch(batchOpt{firstTS: t0 + 10}, vals("d", "e")...))
		s.both(c, "end offset", listOffsetsReq(s.topic("t"), 0, -1), 7, 5)
	})

	add("produce_v3_v7_v11", "Produce at v3, v7 and v11 (the oldest kept, the zstd floor, the newest non-TV2) to one partition", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		for i, v := range []int16{3, 7, 11} {
			s.produce(c, "produce", s.topic("t"), 0, v, batch(batchOpt{firstTS: t0 + int64(i)}, vals("x")...))
		}
	})

	add("produce_v2_removed", "Produce v2 (removed in Kafka 4, still advertised for librdkafka): refused", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		s.produce(c, "produce v2", s.topic("t"), 0, 2, batch(batchOpt{firstTS: t0}, vals("x")...))
	})

	add("produce_unknown_topic", "Produce v9 to a topic that does not exist", func(s *S) {
		c := s.dial()
		s.both(c, "produce", produceReq(-1, s.topic("missing"), 0, batch(batchOpt{firstTS: t0}, vals("x")...)), 9, 7)
	})

	add("produce_bad_partition", "Produce v9 to partition 7 of a 1-partition topic", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		s.both(c, "produce", produceReq(-1, s.topic("t"), 7, batch(batchOpt{firstTS: t0}, vals("x")...)), 9, 7)
	})

	add("produce_too_large", "Produce v9 of a 1.2 MB record (max.message.bytes 1048588): MESSAGE_TOO_LARGE", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		big := make([]byte, 1200000)
		s.both(c, "produce", produceReq(-1, s.topic("t"), 0, batch(batchOpt{firstTS: t0}, rec{value: big})), 9, 7)
		s.both(c, "end offset", listOffsetsReq(s.topic("t"), 0, -1), 7, 5)
	})

	add("produce_topic_max_message_bytes", "Produce v9 over a topic's own max.message.bytes=1000", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, map[string]string{"max.message.bytes": "1000"})
		s.both(c, "produce 2 KB", produceReq(-1, s.topic("t"), 0, batch(batchOpt{firstTS: t0}, rec{value: make([]byte, 2000)})), 9, 7)
		s.both(c, "produce 100 B", produceReq(-1, s.topic("t"), 0, batch(batchOpt{firstTS: t0}, rec{value: make([]byte, 100)})), 9, 7)
	})

	add("produce_corrupt_crc", "Produce v9 of a batch with a wrong CRC: CORRUPT_MESSAGE, nothing appended", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		s.both(c, "produce", produceReq(-1, s.topic("t"), 0, batch(batchOpt{firstTS: t0, corrupt: true}, vals("x")...)), 9, 7)
		s.both(c, "end offset", listOffsetsReq(s.topic("t"), 0, -1), 7, 5)
	})

	add("produce_invalid_acks", "Produce v9 with acks=2: INVALID_REQUIRED_ACKS", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		s.both(c, "produce acks=2", produceReq(2, s.topic("t"), 0, batch(batchOpt{firstTS: t0}, vals("x")...)), 9, 7)
	})

	add("produce_compacted_without_key", "Produce v9 of a keyless record to a compacted topic: INVALID_RECORD with record_errors", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, map[string]string{"cleanup.policy": "compact"})
		s.both(c, "produce keyless", produceReq(-1, s.topic("t"), 0, batch(batchOpt{firstTS: t0}, rec{value: []byte("v")})), 9, 8)
		s.both(c, "produce keyed", produceReq(-1, s.topic("t"), 0, batch(batchOpt{firstTS: t0}, rec{key: []byte("k"), value: []byte("v")})), 9, 8)
	})

	add("produce_idempotent_sequences", "InitProducerId v4, then Produce v9 with sequences: in order, duplicate, gap", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		r := s.initPID(c, "init producer id", nil)
		if r == nil || r.ErrorCode != 0 {
			return
		}
		o := batchOpt{pid: r.ProducerID, epoch: r.ProducerEpoch, seq: 0, firstTS: t0}
		s.produce(c, "seq 0..1", s.topic("t"), 0, 8, batch(o, vals("a", "b")...))
		s.produce(c, "seq 0..1 again (duplicate)", s.topic("t"), 0, 8, batch(o, vals("a", "b")...))
		o.seq = 2
		s.produce(c, "seq 2", s.topic("t"), 0, 8, batch(o, vals("c")...))
		o.seq = 9
		s.produce(c, "seq 9 (gap)", s.topic("t"), 0, 8, batch(o, vals("d")...))
		s.both(c, "end offset", listOffsetsReq(s.topic("t"), 0, -1), 7, 5)
	})

	add("produce_fenced_epoch", "InitProducerId v4 with id and epoch (KIP-360) for an idempotent producer; Produce v8 with a bumped epoch, then the old epoch: INVALID_PRODUCER_EPOCH", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		r := s.initPID(c, "init producer id", nil)
		if r == nil || r.ErrorCode != 0 {
			return
		}
		s.produce(c, "produce with epoch", s.topic("t"), 0, 8, batch(batchOpt{pid: r.ProducerID, epoch: r.ProducerEpoch, firstTS: t0}, vals("a")...))
		bump := kmsg.NewPtrInitProducerIDRequest()
		bump.TransactionTimeoutMillis, bump.ProducerID, bump.ProducerEpoch = 60000, r.ProducerID, r.ProducerEpoch
		s.call(c, "bump the epoch", bump, 4)
		s.produce(c, "produce with the old epoch", s.topic("t"), 0, 8, batch(batchOpt{pid: r.ProducerID, epoch: r.ProducerEpoch, seq: 1, firstTS: t0}, vals("b")...))
		bad := kmsg.NewPtrInitProducerIDRequest()
		bad.TransactionTimeoutMillis, bad.ProducerID, bad.ProducerEpoch = 60000, r.ProducerID, r.ProducerEpoch+5
		s.call(c, "bump from a wrong epoch", bad, 4)
		s.produce(c, "produce with epoch+1 from sequence 0", s.topic("t"), 0, 8, batch(batchOpt{pid: r.ProducerID, epoch: r.ProducerEpoch + 1, seq: 0, firstTS: t0}, vals("c")...))
		s.produce(c, "produce with the old epoch again", s.topic("t"), 0, 8, batch(batchOpt{pid: r.ProducerID, epoch: r.ProducerEpoch, seq: 2, firstTS: t0}, vals("d")...))
	})

	add("fetch_v11_records", "Fetch v11 from offset 0: batches as written, high watermark, last stable offset, log start", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		s.produce(c, "produce", s.topic("t"), 0, 7, batch(batchOpt{firstTS: t0},
			rec{key: []byte("k"), value: []byte("v"), headers: [][2][]byte{{[]byte("h"), []byte("x")}}}, rec{value: []byte("w"), ts: 5}))
		s.call(c, "fetch", fetchReq(s.topic("t"), 0, 0), 11)
	})

	add("fetch_mid_batch", "Fetch v11 at offset 1 of a 3-record batch: the whole batch from its base offset", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		s.produce(c, "produce", s.topic("t"), 0, 7, batch(batchOpt{firstTS: t0}, vals("a", "b", "c")...))
		s.call(c, "fetch at 1", fetchReq(s.topic("t"), 0, 1), 11)
	})

	add("fetch_out_of_range", "Fetch v11 past the end and below the log start: OFFSET_OUT_OF_RANGE", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		s.fill(c, s.topic("t"), 0, 3, t0)
		s.both(c, "fetch at 100", fetchReq(s.topic("t"), 0, 100), 12, 11)
		s.both(c, "fetch at -5", fetchReq(s.topic("t"), 0, -5), 12, 11)
		s.both(c, "fetch at the end (3)", fetchReq(s.topic("t"), 0, 3), 12, 11)
	})

	add("fetch_unknown", "Fetch v11 for an unknown topic and an unknown partition", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		s.both(c, "unknown topic", fetchReq(s.topic("missing"), 0, 0), 12, 11)
		s.both(c, "unknown partition", fetchReq(s.topic("t"), 5, 0), 12, 11)
	})

	add("fetch_v12_sessions", "Fetch v12 (flexible, KIP-227): a full fetch opens a session, an incremental one sees only changes, a bad session id fails", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 2, nil)
		s.fill(c, s.topic("t"), 0, 2, t0)
		full := fetchReq(s.topic("t"), 0, 0)
		p1 := kmsg.NewFetchRequestTopicPartition()
		p1.Partition, p1.FetchOffset, p1.PartitionMaxBytes, p1.CurrentLeaderEpoch, p1.LogStartOffset, p1.LastFetchedEpoch = 1, 0, 1<<20, -1, -1, -1
		full.Topics[0].Partitions = append(full.Topics[0].Partitions, p1)
		full.SessionID, full.SessionEpoch = 0, 0
		r, _ := s.call(c, "full fetch, new session", full, 12).(*kmsg.FetchResponse)
		if r == nil || r.SessionID == 0 {
			return
		}
		inc := kmsg.NewPtrFetchRequest()
		inc.ReplicaID, inc.MaxWaitMillis, inc.MinBytes, inc.MaxBytes = -1, 0, 1, 1<<20
		inc.SessionID, inc.SessionEpoch = r.SessionID, 1
		s.call(c, "incremental fetch, nothing changed", inc, 12)
		s.fill(c, s.topic("t"), 1, 1, t0)
		inc2 := *inc
		inc2.SessionEpoch = 2
		s.call(c, "incremental fetch after a write to partition 1", &inc2, 12)
		inc3 := *inc
		inc3.SessionEpoch = 7
		s.call(c, "incremental fetch with a wrong epoch", &inc3, 12)
		bad := *inc
		bad.SessionID, bad.SessionEpoch = r.SessionID+12345, 1
		s.call(c, "incremental fetch with an unknown session", &bad, 12)
		// Session ids are random: a client that kept its session across a broker restart must
		// not meet its id again in another client's session.
		if r2, _ := s.quiet(s.dial(), full, 12).(*kmsg.FetchResponse); r2 != nil {
			s.note("a second session's id is the first's + 1", r2.SessionID == r.SessionID+1)
		}
	})

	add("fetch_v13_topic_ids", "Fetch v13 by topic id, and by an unknown topic id: UNKNOWN_TOPIC_ID", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		s.fill(c, s.topic("t"), 0, 1, t0)
		id := topicID(c, s, s.topic("t"))
		req := fetchReq("", 0, 0)
		req.Topics[0].TopicID = id
		s.call(c, "fetch by id", req, 13)
		req2 := fetchReq("", 0, 0)
		req2.Topics[0].TopicID = [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
		s.call(c, "fetch by an unknown id", req2, 13)
	})

	add("fetch_session_names_then_ids", "A fetch session opened by topic names (v12) and continued by topic ids (v13), and the reverse: FETCH_SESSION_TOPIC_ID_ERROR (a Java consumer does this after a broker restart, when its metadata gains the ids)", func(s *S) {
		c := s.dial()
		for _, t := range []string{"a", "b"} {
			s.createTopic(c, s.topic(t), 1, nil)
			s.fill(c, s.topic(t), 0, 3, t0)
		}
		ids := map[string][16]byte{"a": topicID(c, s, s.topic("a")), "b": topicID(c, s, s.topic("b"))}
		req := func(byID bool, offA, offB int64) *kmsg.FetchRequest {
			r := kmsg.NewPtrFetchRequest()
			r.ReplicaID, r.MaxWaitMillis, r.MinBytes, r.MaxBytes = -1, 0, 1, 1<<20
			for _, x := range []struct {
				t   string
				off int64
			}{{"a", offA}, {"b", offB}} {
				t := kmsg.NewFetchRequestTopic()
				if byID {
					t.TopicID = ids[x.t]
				} else {
					t.Topic = s.topic(x.t)
				}
				p := kmsg.NewFetchRequestTopicPartition()
				p.Partition, p.FetchOffset, p.PartitionMaxBytes = 0, x.off, 1<<20
				p.CurrentLeaderEpoch, p.LogStartOffset, p.LastFetchedEpoch = -1, -1, -1
				t.Partitions = append(t.Partitions, p)
				r.Topics = append(r.Topics, t)
			}
			return r
		}
		for _, v := range [][2]int16{{12, 13}, {13, 12}} {
			full := req(v[0] >= 13, 1, 3)
			full.SessionID, full.SessionEpoch = 0, 0
			r, _ := s.call(c, fmt.Sprintf("full fetch v%d opens a session", v[0]), full, v[0]).(*kmsg.FetchResponse)
			if r == nil || r.SessionID == 0 {
				return
			}
			inc := req(v[1] >= 13, 3, 1)
			inc.SessionID, inc.SessionEpoch = r.SessionID, 1
			s.call(c, fmt.Sprintf("incremental fetch v%d in that session", v[1]), inc, v[1])
		}
	})

	add("listoffsets_v7_specs", "ListOffsets v7: earliest, latest, max-timestamp (KIP-734), by time, past the last time", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		for i, d := range []int64{3000, 9000, 1000, 5000} {
			s.quiet(c, produceReq(-1, s.topic("t"), 0, batch(batchOpt{firstTS: t0 + d}, rec{value: []byte{byte(i)}})), 7)
		}
		for _, ts := range []int64{-2, -1, -3, t0 + 4000, t0 + 9000, t0 + 9001} {
			s.call(c, "timestamp "+tsName(ts), listOffsetsReq(s.topic("t"), 0, ts), 7)
		}
	})

	add("listoffsets_v1_and_v8", "ListOffsets v1 (oldest kept) and v8 for earliest and latest", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		s.fill(c, s.topic("t"), 0, 4, t0)
		s.call(c, "v1 latest", listOffsetsReq(s.topic("t"), 0, -1), 1)
		s.call(c, "v8 earliest", listOffsetsReq(s.topic("t"), 0, -2), 8)
	})

	add("listoffsets_errors", "ListOffsets v7 for an unknown partition and an unknown topic", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		s.both(c, "unknown partition", listOffsetsReq(s.topic("t"), 3, -1), 7, 5)
		s.both(c, "unknown topic", listOffsetsReq(s.topic("missing"), 0, -1), 7, 5)
	})

	add("offset_for_leader_epoch_v4", "OffsetForLeaderEpoch v4: epoch 0's end offset, an unknown epoch, an unknown partition", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		s.fill(c, s.topic("t"), 0, 3, t0)
		for _, e := range []int32{0, 5} {
			req := kmsg.NewPtrOffsetForLeaderEpochRequest()
			req.ReplicaID = -1
			t := kmsg.NewOffsetForLeaderEpochRequestTopic()
			t.Topic = s.topic("t")
			p := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
			p.Partition, p.CurrentLeaderEpoch, p.LeaderEpoch = 0, -1, e
			t.Partitions = append(t.Partitions, p)
			p2 := p
			p2.Partition = 4
			t.Partitions = append(t.Partitions, p2)
			req.Topics = append(req.Topics, t)
			s.call(c, "leader epoch "+tsName(int64(e)), req, 4)
		}
	})

	add("find_coordinator_v4_batched", "FindCoordinator v4 (KIP-699 batched keys) and v1 for a group", func(s *S) {
		c := s.dial()
		s.waitCoordinator(c, s.topic("g1"))
		req := kmsg.NewPtrFindCoordinatorRequest()
		req.CoordinatorKeys = []string{s.topic("g1"), s.topic("g2")}
		s.call(c, "batched", req, 4)
		old := kmsg.NewPtrFindCoordinatorRequest()
		old.CoordinatorKey = s.topic("g1")
		s.call(c, "v1", old, 1)
	})

	add("join_group_v9_member_id_required", "JoinGroup v9: MEMBER_ID_REQUIRED first, then a one-member group with its leader", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 2, nil)
		s.waitCoordinator(c, s.topic("g"))
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.CoordinatorKeys = []string{s.topic("g")}
		s.call(c, "find coordinator", fc, 4)
		j, _ := s.call(c, "join without member id", joinReq(s.topic("g"), "", s.topic("t")), 9).(*kmsg.JoinGroupResponse)
		if j == nil {
			return
		}
		j2, _ := s.call(c, "join with the assigned member id", joinReq(s.topic("g"), j.MemberID, s.topic("t")), 9).(*kmsg.JoinGroupResponse)
		if j2 == nil {
			return
		}
		sy := kmsg.NewPtrSyncGroupRequest()
		sy.Group, sy.Generation, sy.MemberID = s.topic("g"), j2.Generation, j2.MemberID
		sy.ProtocolType, sy.Protocol = str("consumer"), str("range")
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = j2.MemberID, assignment(s.topic("t"), 0, 1)
		sy.GroupAssignment = append(sy.GroupAssignment, ga)
		s.call(c, "sync as leader", sy, 5)
	})

	add("join_group_v4_unsupported_protocol", "JoinGroup v5 with a protocol type different from the group's: INCONSISTENT_GROUP_PROTOCOL", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		s.joinedMember(c, s.topic("g"), s.topic("t"), 0)
		j := joinReq(s.topic("g"), "", s.topic("t"))
		j.ProtocolType = "connect"
		s.call(c, "join as connect", j, 5)
	})

	add("heartbeat_errors", "Heartbeat v4: ok, then ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID; unknown group", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		m, gen := s.joinedMember(c, s.topic("g"), s.topic("t"), 0)
		s.call(c, "heartbeat", hbReq(s.topic("g"), m, gen), 4)
		s.call(c, "heartbeat, wrong generation", hbReq(s.topic("g"), m, gen+5), 4)
		s.call(c, "heartbeat, unknown member", hbReq(s.topic("g"), "nobody", gen), 4)
		s.call(c, "heartbeat, unknown group", hbReq(s.topic("nogroup"), "nobody", 1), 4)
	})

	add("sync_group_errors", "SyncGroup v5: wrong generation, unknown member, protocol mismatch", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		m, gen := s.joinedMember(c, s.topic("g"), s.topic("t"), 0)
		for _, tc := range []struct {
			name   string
			member string
			gen    int32
			proto  string
		}{{"wrong generation", m, gen + 1, "range"}, {"unknown member", "nobody", gen, "range"}, {"protocol mismatch", m, gen, "roundrobin"}} {
			sy := kmsg.NewPtrSyncGroupRequest()
			sy.Group, sy.Generation, sy.MemberID = s.topic("g"), tc.gen, tc.member
			sy.ProtocolType, sy.Protocol = str("consumer"), str(tc.proto)
			s.both(c, tc.name, sy, 5, 3)
		}
	})

	add("leave_group_v5_batched", "LeaveGroup v5 with two members (one unknown), then DescribeGroups v5", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		m, _ := s.joinedMember(c, s.topic("g"), s.topic("t"), 0)
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Group = s.topic("g")
		for _, id := range []string{m, "nobody"} {
			lm := kmsg.NewLeaveGroupRequestMember()
			lm.MemberID = id
			req.Members = append(req.Members, lm)
		}
		s.call(c, "leave", req, 5)
		dg := kmsg.NewPtrDescribeGroupsRequest()
		dg.Groups = []string{s.topic("g")}
		s.call(c, "describe", dg, 5)
	})

	add("describe_groups_v5_stable", "DescribeGroups v5 of a stable one-member group and of an unknown group", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 2, nil)
		s.joinedMember(c, s.topic("g"), s.topic("t"), 0, 1)
		dg := kmsg.NewPtrDescribeGroupsRequest()
		dg.Groups = []string{s.topic("g"), s.topic("unknown")}
		dg.IncludeAuthorizedOperations = true
		s.both(c, "describe", dg, 5, 4)
	})

	add("list_groups_v5_filters", "ListGroups v5 with state and type filters (KIP-518, KIP-848)", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		s.joinedMember(c, s.topic("g"), s.topic("t"), 0)
		for _, f := range []struct {
			name          string
			states, types []string
		}{{"Stable", []string{"Stable"}, nil}, {"Empty", []string{"Empty"}, nil}, {"classic", nil, []string{"classic"}}, {"consumer type", nil, []string{"consumer"}}} {
			req := kmsg.NewPtrListGroupsRequest()
			req.StatesFilter, req.TypesFilter = f.states, f.types
			r, _ := s.quiet(c, req, 5).(*kmsg.ListGroupsResponse)
			if r == nil {
				s.note("list "+f.name, "no answer")
				continue
			}
			var mine []map[string]any
			for _, g := range r.Groups {
				if g.Group == s.topic("g") {
					mine = append(mine, map[string]any{"state": g.GroupState, "type": g.GroupType, "protocol type": g.ProtocolType})
				}
			}
			s.note("list "+f.name, map[string]any{"error": r.ErrorCode, "this group": mine})
		}
	})

	add("offset_commit_v9_fetch_v9", "OffsetCommit v9 by a member (metadata with a NUL byte), OffsetFetch v9 batched and v5", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 2, nil)
		m, gen := s.joinedMember(c, s.topic("g"), s.topic("t"), 0, 1)
		s.call(c, "commit", commitReq(s.topic("g"), m, gen, s.topic("t"), 0, 42, str("meta\x00data")), 9)
		req := kmsg.NewPtrOffsetFetchRequest()
		for _, g := range []string{s.topic("g"), s.topic("other")} {
			rg := kmsg.NewOffsetFetchRequestGroup()
			rg.Group = g
			rt := kmsg.NewOffsetFetchRequestGroupTopic()
			rt.Topic, rt.Partitions = s.topic("t"), []int32{0, 1}
			rg.Topics = append(rg.Topics, rt)
			req.Groups = append(req.Groups, rg)
		}
		s.call(c, "fetch two groups", req, 9)
		old := kmsg.NewPtrOffsetFetchRequest()
		old.Group = s.topic("g")
		s.call(c, "fetch all (v5)", old, 5)
	})

	add("offset_commit_errors", "OffsetCommit v9: ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, admin commit to a live group, unknown topic", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		m, gen := s.joinedMember(c, s.topic("g"), s.topic("t"), 0)
		s.both(c, "wrong generation", commitReq(s.topic("g"), m, gen+3, s.topic("t"), 0, 1, nil), 9, 7)
		s.both(c, "unknown member", commitReq(s.topic("g"), "nobody", gen, s.topic("t"), 0, 1, nil), 9, 7)
		s.both(c, "generation -1 (admin) to a live group", commitReq(s.topic("g"), "", -1, s.topic("t"), 0, 1, nil), 9, 7)
		s.both(c, "unknown topic", commitReq(s.topic("g"), m, gen, s.topic("missing"), 0, 1, nil), 9, 7)
		s.both(c, "standalone commit (no group members)", commitReq(s.topic("solo"), "", -1, s.topic("t"), 0, 7, nil), 9, 7)
	})

	add("offset_commit_v2_oldest", "OffsetCommit v2 and OffsetFetch v1 (the oldest Kafka 4 keeps) for a standalone consumer", func(s *S) {
		c := s.dial()
		s.waitCoordinator(c, s.topic("g"))
		s.createTopic(c, s.topic("t"), 1, nil)
		s.call(c, "commit v2", commitReq(s.topic("g"), "", -1, s.topic("t"), 0, 5, str("m")), 2)
		req := kmsg.NewPtrOffsetFetchRequest()
		req.Group = s.topic("g")
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = s.topic("t"), []int32{0}
		req.Topics = append(req.Topics, rt)
		s.call(c, "fetch v1", req, 1)
	})

	add("delete_groups_v2", "DeleteGroups v2: a live group (NON_EMPTY_GROUP), an unknown group, an empty group", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		m, _ := s.joinedMember(c, s.topic("g"), s.topic("t"), 0)
		s.call(c, "standalone commit to create an empty group", commitReq(s.topic("empty"), "", -1, s.topic("t"), 0, 1, nil), 9)
		req := kmsg.NewPtrDeleteGroupsRequest()
		req.Groups = []string{s.topic("g"), s.topic("unknown"), s.topic("empty")}
		s.both(c, "delete", req, 2, 1)
		lv := kmsg.NewPtrLeaveGroupRequest()
		lv.Group = s.topic("g")
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = m
		lv.Members = append(lv.Members, lm)
		s.quiet(c, lv, 5)
		req2 := kmsg.NewPtrDeleteGroupsRequest()
		req2.Groups = []string{s.topic("g")}
		s.call(c, "delete after the member left", req2, 2)
	})

	add("offset_delete_v0", "OffsetDelete v0: a subscribed partition (GROUP_SUBSCRIBED_TO_TOPIC), an unknown group", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		m, gen := s.joinedMember(c, s.topic("g"), s.topic("t"), 0)
		s.quiet(c, commitReq(s.topic("g"), m, gen, s.topic("t"), 0, 1, nil), 9)
		for _, g := range []string{s.topic("g"), s.topic("unknown")} {
			req := kmsg.NewPtrOffsetDeleteRequest()
			req.Group = g
			t := kmsg.NewOffsetDeleteRequestTopic()
			t.Topic = s.topic("t")
			p := kmsg.NewOffsetDeleteRequestTopicPartition()
			t.Partitions = append(t.Partitions, p)
			req.Topics = append(req.Topics, t)
			s.call(c, "delete offsets", req, 0)
		}
	})

	add("consumer_group_heartbeat_v1", "ConsumerGroupHeartbeat v1 (KIP-848): join with epoch 0, get an assignment, leave with epoch -1; ConsumerGroupDescribe v0", func(s *S) {
		c := s.dial()
		s.waitCoordinator(c, s.topic("g"))
		s.createTopic(c, s.topic("t"), 2, nil)
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.Group, req.MemberID, req.MemberEpoch = s.topic("g"), "weirdiff-member-0000001", 0
		req.RebalanceTimeoutMillis, req.SubscribedTopicNames = 10000, []string{s.topic("t")}
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		r, _ := s.quiet(c, req, 1).(*kmsg.ConsumerGroupHeartbeatResponse)
		if r == nil {
			s.call(c, "join", req, 1) // records what the broker answers (or that it closes)
			return
		}
		s.note("join", map[string]any{"error": r.ErrorCode, "member id kept": deref(r.MemberID) == "weirdiff-member-0000001" || deref(r.MemberID) != ""})
		if r.ErrorCode != 0 {
			return
		}
		// The assignment comes with the join or with a later heartbeat.
		got := r
		nparts := func(r *kmsg.ConsumerGroupHeartbeatResponse) int {
			n := 0
			if r != nil && r.Assignment != nil {
				for _, t := range r.Assignment.Topics {
					n += len(t.Partitions)
				}
			}
			return n
		}
		for i := 0; i < 60 && nparts(got) < 2; i++ {
			time.Sleep(100 * time.Millisecond)
			hb := kmsg.NewPtrConsumerGroupHeartbeatRequest()
			hb.Group, hb.MemberID, hb.MemberEpoch = s.topic("g"), deref(r.MemberID), r.MemberEpoch
			got, _ = s.quiet(c, hb, 1).(*kmsg.ConsumerGroupHeartbeatResponse)
		}
		if got != nil {
			var parts []int32
			if got.Assignment != nil {
				for _, t := range got.Assignment.Topics {
					parts = append(parts, t.Partitions...)
				}
			}
			sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
			// The group epoch counts metadata changes too (Kafka bumps it as the new topic's
			// metadata arrives), so only its sign is compared.
			s.note("assignment", map[string]any{"error": got.ErrorCode, "epoch positive": got.MemberEpoch > 0, "partitions": parts,
				"heartbeat interval ms": got.HeartbeatIntervalMillis})
			r.MemberEpoch = got.MemberEpoch
		}
		d := kmsg.NewPtrConsumerGroupDescribeRequest()
		d.Groups = []string{s.topic("g")}
		if dr, _ := s.quiet(c, d, 0).(*kmsg.ConsumerGroupDescribeResponse); dr == nil || len(dr.Groups) != 1 {
			s.call(c, "describe", d, 0)
		} else {
			g := dr.Groups[0]
			var ms []map[string]any
			for _, m := range g.Members {
				var ps []int32
				for _, t := range m.Assignment.TopicPartitions {
					ps = append(ps, t.Partitions...)
				}
				sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
				ms = append(ms, map[string]any{"member epoch is the group epoch": m.MemberEpoch == g.Epoch,
					"assignment": ps, "client id": m.ClientID})
			}
			s.note("describe", map[string]any{"error": g.ErrorCode, "state": g.State, "assignor": g.AssignorName,
				"assignment epoch is the group epoch": g.AssignmentEpoch == g.Epoch, "members": ms})
		}
		lv := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		lv.Group, lv.MemberID, lv.MemberEpoch = s.topic("g"), deref(r.MemberID), -1
		s.call(c, "leave", lv, 1)
		stale := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		stale.Group, stale.MemberID, stale.MemberEpoch = s.topic("g"), deref(r.MemberID), 7
		s.call(c, "heartbeat after leaving", stale, 1)
	})

	add("create_topics_v7_errors", "CreateTopics v7: configs and topic id in the answer, exists, bad replication, bad name, bad partitions, bad config, validate-only", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 2, map[string]string{"retention.ms": "3600000"})
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 10000
		mk := func(name string, parts int32, rf int16, cfg map[string]string) {
			t := kmsg.NewCreateTopicsRequestTopic()
			t.Topic, t.NumPartitions, t.ReplicationFactor = name, parts, rf
			for k, v := range cfg {
				cf := kmsg.NewCreateTopicsRequestTopicConfig()
				cf.Name, cf.Value = k, str(v)
				t.Configs = append(t.Configs, cf)
			}
			req.Topics = append(req.Topics, t)
		}
		mk(s.topic("t"), 1, 1, nil)
		mk(s.topic("rf3"), 1, 3, nil)
		mk("bad/name", 1, 1, nil)
		mk(s.topic("zero"), 0, 1, nil)
		mk(s.topic("badcfg"), 1, 1, map[string]string{"cleanup.policy": "sometimes"})
		mk(s.topic("unknowncfg"), 1, 1, map[string]string{"no.such.config": "1"})
		mk(s.topic("defaults"), -1, -1, nil)
		s.call(c, "create several", req, 7)
		v := kmsg.NewPtrCreateTopicsRequest()
		v.TimeoutMillis, v.ValidateOnly = 10000, true
		t := kmsg.NewCreateTopicsRequestTopic()
		t.Topic, t.NumPartitions, t.ReplicationFactor = s.topic("validate"), 3, 1
		v.Topics = append(v.Topics, t)
		s.call(c, "validate only", v, 7)
		s.call(c, "metadata of the validate-only topic", metaReq(false, s.topic("validate")), 12)
	})

	add("create_topics_v2_v4", "CreateTopics v2 and v4 (non-flexible) for a new and an existing topic", func(s *S) {
		c := s.dial()
		for _, v := range []int16{2, 4} {
			req := kmsg.NewPtrCreateTopicsRequest()
			req.TimeoutMillis = 10000
			t := kmsg.NewCreateTopicsRequestTopic()
			t.Topic, t.NumPartitions, t.ReplicationFactor = s.topic("t"), 1, 1
			req.Topics = append(req.Topics, t)
			s.call(c, "create", req, v)
			s.waitTopic(c, s.topic("t"), 1)
		}
	})

	add("delete_topics_v6_by_id", "DeleteTopics v6 by name and by topic id; unknown name and unknown id; re-creation gives a new id", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("a"), 1, nil)
		s.createTopic(c, s.topic("b"), 1, nil)
		idB := topicID(c, s, s.topic("b"))
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.TimeoutMillis = 10000
		ta := kmsg.NewDeleteTopicsRequestTopic()
		ta.Topic = str(s.topic("a"))
		tb := kmsg.NewDeleteTopicsRequestTopic()
		tb.TopicID = idB
		tm := kmsg.NewDeleteTopicsRequestTopic()
		tm.Topic = str(s.topic("missing"))
		ti := kmsg.NewDeleteTopicsRequestTopic()
		ti.TopicID = [16]byte{9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9}
		req.Topics = []kmsg.DeleteTopicsRequestTopic{ta, tb, tm, ti}
		s.call(c, "delete", req, 6)
		time.Sleep(300 * time.Millisecond)
		s.createTopic(c, s.topic("b"), 1, nil)
		s.note("re-created topic has a new id", topicID(c, s, s.topic("b")) != idB)
	})

	add("delete_topics_v1_legacy", "DeleteTopics v1 by name, then Metadata", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.TimeoutMillis, req.TopicNames = 10000, []string{s.topic("t"), s.topic("missing")}
		s.call(c, "delete", req, 1)
	})

	add("describe_configs_v4_topic_all", "DescribeConfigs v4 of a topic, all configs with synonyms and documentation", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, map[string]string{"retention.ms": "3600000", "cleanup.policy": "compact"})
		s.call(c, "describe", describeConfigsReq(kmsg.ConfigResourceTypeTopic, s.topic("t")), 4)
	})

	add("describe_configs_v4_broker_named", "DescribeConfigs v4 of the broker, named settings Weir has (values, sources, read-only, synonyms, types, docs)", func(s *S) {
		c := s.dial()
		s.call(c, "describe", describeConfigsReq(kmsg.ConfigResourceTypeBroker, "1", "log.retention.hours", "log.retention.ms",
			"log.retention.bytes", "log.segment.bytes", "log.roll.hours", "log.cleanup.policy", "message.max.bytes",
			"auto.create.topics.enable", "delete.topic.enable", "log.flush.interval.ms", "log.flush.interval.messages",
			"compression.type", "log.cleaner.delete.retention.ms", "log.index.interval.bytes",
			"socket.request.max.bytes", "group.initial.rebalance.delay.ms", "offsets.retention.minutes",
			"group.min.session.timeout.ms", "group.max.session.timeout.ms", "log.message.timestamp.type"), 4)
	})

	add("describe_configs_errors", "DescribeConfigs v4 for an unknown topic, another broker id, a v1 request", func(s *S) {
		c := s.dial()
		s.call(c, "unknown topic", describeConfigsReq(kmsg.ConfigResourceTypeTopic, s.topic("missing")), 4)
		s.call(c, "broker 7", describeConfigsReq(kmsg.ConfigResourceTypeBroker, "7", "log.retention.hours"), 4)
		s.createTopic(c, s.topic("t"), 1, nil)
		s.call(c, "v1 of one config", describeConfigsReq(kmsg.ConfigResourceTypeTopic, s.topic("t"), "retention.ms"), 1)
	})

	add("alter_configs_v2_replace", "AlterConfigs v2 replaces a topic's whole override set; a bad value", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, map[string]string{"retention.ms": "3600000"})
		req := kmsg.NewPtrAlterConfigsRequest()
		r := kmsg.NewAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeTopic, s.topic("t")
		cf := kmsg.NewAlterConfigsRequestResourceConfig()
		cf.Name, cf.Value = "segment.ms", str("600000")
		r.Configs = append(r.Configs, cf)
		req.Resources = append(req.Resources, r)
		s.call(c, "alter", req, 2)
		settle()
		s.call(c, "describe", describeConfigsReq(kmsg.ConfigResourceTypeTopic, s.topic("t"), "retention.ms", "segment.ms"), 4)
		bad := kmsg.NewPtrAlterConfigsRequest()
		rb := r
		cb := kmsg.NewAlterConfigsRequestResourceConfig()
		cb.Name, cb.Value = "segment.ms", str("soon")
		rb.Configs = []kmsg.AlterConfigsRequestResourceConfig{cb}
		bad.Resources = append(bad.Resources, rb)
		s.call(c, "bad value", bad, 2)
	})

	add("incremental_alter_configs_v1", "IncrementalAlterConfigs v1: SET, APPEND, SUBTRACT, DELETE, bad value, unknown name, unknown topic", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		s.call(c, "set", incAlter(s.topic("t"), incOp("retention.ms", 0, str("1000")), incOp("cleanup.policy", 0, str("compact"))), 1)
		settle()
		s.call(c, "append", incAlter(s.topic("t"), incOp("cleanup.policy", 2, str("delete"))), 1)
		settle()
		s.call(c, "describe", describeConfigsReq(kmsg.ConfigResourceTypeTopic, s.topic("t"), "retention.ms", "cleanup.policy"), 4)
		s.call(c, "subtract and delete", incAlter(s.topic("t"), incOp("cleanup.policy", 3, str("compact")), incOp("retention.ms", 1, nil)), 1)
		settle()
		s.call(c, "describe again", describeConfigsReq(kmsg.ConfigResourceTypeTopic, s.topic("t"), "retention.ms", "cleanup.policy"), 4)
		s.call(c, "bad value", incAlter(s.topic("t"), incOp("retention.ms", 0, str("later"))), 1)
		s.call(c, "unknown name", incAlter(s.topic("t"), incOp("no.such.config", 0, str("1"))), 1)
		s.call(c, "unknown topic", incAlter(s.topic("missing"), incOp("retention.ms", 0, str("1"))), 1)
	})

	add("incremental_alter_configs_kafka4_topic_configs", "IncrementalAlterConfigs v1 of standard Kafka 4 topic configs a Terraform/Strimzi template sets", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		for _, kv := range [][2]string{{"compression.type", "zstd"}, {"min.cleanable.dirty.ratio", "0.3"},
			{"max.compaction.lag.ms", "86400000"}, {"file.delete.delay.ms", "30000"}, {"message.timestamp.type", "LogAppendTime"},
			{"segment.index.bytes", "1048576"}, {"unclean.leader.election.enable", "false"}, {"preallocate", "false"},
			{"message.timestamp.before.max.ms", "86400000"}, {"local.retention.ms", "-2"}} {
			s.call(c, "set "+kv[0], incAlter(s.topic("t"), incOp(kv[0], 0, str(kv[1]))), 1)
		}
	})

	add("create_partitions_v3", "CreatePartitions v3: grow 1 -> 3, same count, shrink, unknown topic, validate-only", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		mk := func(topic string, n int32, validate bool) *kmsg.CreatePartitionsRequest {
			req := kmsg.NewPtrCreatePartitionsRequest()
			req.TimeoutMillis, req.ValidateOnly = 10000, validate
			t := kmsg.NewCreatePartitionsRequestTopic()
			t.Topic, t.Count = topic, n
			req.Topics = append(req.Topics, t)
			return req
		}
		s.call(c, "grow to 3", mk(s.topic("t"), 3, false), 3)
		s.waitTopic(c, s.topic("t"), 3)
		s.call(c, "same count", mk(s.topic("t"), 3, false), 3)
		s.call(c, "shrink to 2", mk(s.topic("t"), 2, false), 3)
		s.call(c, "unknown topic", mk(s.topic("missing"), 2, false), 3)
		s.call(c, "validate growing to 9", mk(s.topic("t"), 9, true), 3)
		s.call(c, "metadata", metaReq(false, s.topic("t")), 12)
	})

	add("delete_records_v2", "DeleteRecords v2: to offset 2, to -1 (the high watermark), past the end, unknown partition", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		s.fill(c, s.topic("t"), 0, 5, t0)
		for _, o := range []struct {
			part int32
			off  int64
		}{{0, 2}, {0, 99}, {0, -1}, {4, 1}} {
			req := kmsg.NewPtrDeleteRecordsRequest()
			req.TimeoutMillis = 10000
			t := kmsg.NewDeleteRecordsRequestTopic()
			t.Topic = s.topic("t")
			p := kmsg.NewDeleteRecordsRequestTopicPartition()
			p.Partition, p.Offset = o.part, o.off
			t.Partitions = append(t.Partitions, p)
			req.Topics = append(req.Topics, t)
			s.call(c, "delete to "+tsName(o.off), req, 2)
		}
		s.call(c, "earliest", listOffsetsReq(s.topic("t"), 0, -2), 7)
		s.call(c, "fetch below the log start", fetchReq(s.topic("t"), 0, 1), 11)
	})

	add("describe_log_dirs_v4", "DescribeLogDirs v4 for one topic's partitions (sizes of empty partitions)", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 2, nil)
		req := kmsg.NewPtrDescribeLogDirsRequest()
		t := kmsg.NewDescribeLogDirsRequestTopic()
		t.Topic, t.Partitions = s.topic("t"), []int32{0, 1}
		req.Topics = append(req.Topics, t)
		var r *kmsg.DescribeLogDirsResponse
		for i := 0; i < 50; i++ { // a new partition's log shows up in its dir shortly after creation
			r, _ = s.quiet(c, req, 4).(*kmsg.DescribeLogDirsResponse)
			if r == nil || (len(r.Dirs) > 0 && len(r.Dirs[0].Topics) > 0 && len(r.Dirs[0].Topics[0].Partitions) == 2) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if r == nil {
			s.note("describe log dirs v4", "no answer")
			return
		}
		var dirs []map[string]any
		for _, d := range r.Dirs {
			var ps []map[string]any
			for _, tt := range d.Topics {
				for _, p := range tt.Partitions {
					ps = append(ps, map[string]any{"partition": p.Partition, "size": p.Size, "offset_lag": p.OffsetLag, "is_future": p.IsFuture})
				}
			}
			// Kafka lists a dir's partitions in its hash map's order, which no client relies on
			sort.Slice(ps, func(i, j int) bool { return ps[i]["partition"].(int32) < ps[j]["partition"].(int32) })
			dirs = append(dirs, map[string]any{"error": d.ErrorCode, "partitions": ps, "has_total_bytes": d.TotalBytes > 0})
		}
		s.note("dirs", map[string]any{"error": r.ErrorCode, "dirs": dirs})
	})

	add("describe_producers_v0", "DescribeProducers v0 after an idempotent write", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		r := s.initPID(c, "init producer id", nil)
		if r != nil {
			s.quiet(c, produceReq(-1, s.topic("t"), 0, batch(batchOpt{pid: r.ProducerID, epoch: r.ProducerEpoch, firstTS: t0}, vals("a", "b")...)), 7)
		}
		req := kmsg.NewPtrDescribeProducersRequest()
		t := kmsg.NewDescribeProducersRequestTopic()
		t.Topic, t.Partitions = s.topic("t"), []int32{0}
		req.Topics = append(req.Topics, t)
		s.call(c, "describe producers", req, 0)
	})

	add("elect_leaders_v2", "ElectLeaders v2 (preferred) on one node: ELECTION_NOT_NEEDED per partition", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 2, nil)
		req := kmsg.NewPtrElectLeadersRequest()
		req.TimeoutMillis, req.ElectionType = 10000, 0
		t := kmsg.NewElectLeadersRequestTopic()
		t.Topic, t.Partitions = s.topic("t"), []int32{0, 1}
		req.Topics = append(req.Topics, t)
		s.call(c, "elect preferred", req, 2)
	})

	add("list_partition_reassignments_v0", "ListPartitionReassignments v0: none on one node", func(s *S) {
		c := s.dial()
		s.createTopic(c, s.topic("t"), 1, nil)
		req := kmsg.NewPtrListPartitionReassignmentsRequest()
		req.TimeoutMillis = 10000
		t := kmsg.NewListPartitionReassignmentsRequestTopic()
		t.Topic, t.Partitions = s.topic("t"), []int32{0}
		req.Topics = append(req.Topics, t)
		s.call(c, "list", req, 0)
	})

	add("init_producer_id_transactional", "FindCoordinator v4 for a transactional id, then InitProducerId v4 with it: a producer id at epoch 0, at once", func(s *S) {
		warmTxn(s.addr, s.prefix) // a fresh Kafka creates and loads __transaction_state first
		c := s.dial()
		tid := s.topic("txn")
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.CoordinatorType, fc.CoordinatorKeys = 1, []string{tid}
		s.retry(c, "find the transaction coordinator", fc, 4)
		s.retry(c, "init producer id", initTxnReq(str(tid), 60000), 4)
	})
}

// settle waits for a config change to be applied: Kafka applies it through its metadata log,
// so a describe right after an alter may still show the old value, as any client may see.
func settle() { time.Sleep(300 * time.Millisecond) }

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func tsName(ts int64) string {
	switch ts {
	case -1:
		return "-1 (latest)"
	case -2:
		return "-2 (earliest)"
	case -3:
		return "-3 (max timestamp)"
	}
	if ts > 1e12 {
		return "t0+" + time.Duration((ts-t0)*int64(time.Millisecond)).String()
	}
	return time.Duration(0).String()[:0] + itoa(ts)
}

func itoa(v int64) string {
	b := []byte{}
	neg := v < 0
	if neg {
		v = -v
	}
	for {
		b = append([]byte{byte('0' + v%10)}, b...)
		v /= 10
		if v == 0 {
			break
		}
	}
	if neg {
		b = append([]byte{'-'}, b...)
	}
	return string(b)
}
