package main

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func str(s string) *string { return &s }

// createTopic creates a topic with CreateTopics v7 (recorded) and waits, unrecorded, until
// Metadata shows every partition with a leader (Kafka creates topics asynchronously).
func (s *S) createTopic(c *conn, name string, parts int32, configs map[string]string) *kmsg.CreateTopicsResponse {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 10000
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic, t.NumPartitions, t.ReplicationFactor = name, parts, 1
	for k, v := range configs {
		cf := kmsg.NewCreateTopicsRequestTopicConfig()
		cf.Name, cf.Value = k, str(v)
		t.Configs = append(t.Configs, cf)
	}
	req.Topics = append(req.Topics, t)
	// Set-up: quiet, at the newest version the broker takes, and only the outcome is
	// recorded (create_topics_* record whole answers), so one gap there does not fail every
	// scenario.
	var r *kmsg.CreateTopicsResponse
	for _, v := range []int16{7, 4, 2} {
		if r, _ = s.quiet(c, req, v).(*kmsg.CreateTopicsResponse); r != nil {
			break
		}
	}
	if r != nil && len(r.Topics) == 1 {
		s.note("create topic "+name, r.Topics[0].ErrorCode)
	} else {
		s.note("create topic "+name, "no answer")
	}
	s.waitTopic(c, name, parts)
	return r
}

func (s *S) waitTopic(c *conn, name string, parts int32) {
	end := time.Now().Add(10 * time.Second)
	var mv int16 = 12
	for time.Now().Before(end) {
		md, _ := s.quiet(c, metaReq(false, name), mv).(*kmsg.MetadataResponse)
		if md == nil && mv == 12 {
			mv = 4 // a broker without Metadata v12
			continue
		}
		if md != nil && len(md.Topics) == 1 && md.Topics[0].ErrorCode == 0 && len(md.Topics[0].Partitions) == int(parts) {
			ok := true
			for _, p := range md.Topics[0].Partitions {
				ok = ok && p.Leader >= 0 && p.ErrorCode == 0
			}
			// Metadata may name the leader before that broker serves the partition
			// (NOT_LEADER_OR_FOLLOWER for a moment on Kafka): ask each partition too.
			for p := int32(0); ok && p < parts; p++ {
				lo, _ := s.quiet(c, listOffsetsReq(name, p, -1), 7).(*kmsg.ListOffsetsResponse)
				ok = lo == nil || (len(lo.Topics) == 1 && len(lo.Topics[0].Partitions) == 1 &&
					lo.Topics[0].Partitions[0].ErrorCode == 0)
				if lo == nil { // a broker without ListOffsets v7: try v1
					lo1, _ := s.quiet(c, listOffsetsReq(name, p, -1), 1).(*kmsg.ListOffsetsResponse)
					ok = lo1 == nil || (len(lo1.Topics) == 1 && len(lo1.Topics[0].Partitions) == 1 &&
						lo1.Topics[0].Partitions[0].ErrorCode == 0)
				}
			}
			if ok {
				return
			}
		}
		time.Sleep(30 * time.Millisecond)
	}
}

func metaReq(auto bool, topics ...string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.AllowAutoTopicCreation = auto
	for _, t := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = str(t)
		req.Topics = append(req.Topics, rt)
	}
	return req
}

func topicID(c *conn, s *S, name string) [16]byte {
	md, _ := s.quiet(c, metaReq(false, name), 10).(*kmsg.MetadataResponse)
	if md == nil || len(md.Topics) != 1 {
		return [16]byte{}
	}
	return md.Topics[0].TopicID
}

func produceReq(acks int16, topic string, part int32, records []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = acks, 10000
	t := kmsg.NewProduceRequestTopic()
	t.Topic = topic
	p := kmsg.NewProduceRequestTopicPartition()
	p.Partition, p.Records = part, records
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	return req
}

func (s *S) produce(c *conn, step, topic string, part int32, v int16, records []byte) *kmsg.ProduceResponse {
	r, _ := s.call(c, step, produceReq(-1, topic, part, records), v).(*kmsg.ProduceResponse)
	return r
}

// fill writes n one-record batches quietly (set-up).
func (s *S) fill(c *conn, topic string, part int32, n int, firstTS int64) {
	for i := 0; i < n; i++ {
		s.quiet(c, produceReq(-1, topic, part, batch(batchOpt{firstTS: firstTS + int64(i)*1000},
			rec{key: []byte{byte('a' + i%26)}, value: []byte("fill")})), 7)
	}
}

func fetchReq(topic string, part int32, offset int64) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 1, 1<<20
	req.SessionEpoch = -1
	t := kmsg.NewFetchRequestTopic()
	t.Topic = topic
	p := kmsg.NewFetchRequestTopicPartition()
	p.Partition, p.FetchOffset, p.PartitionMaxBytes = part, offset, 1<<20
	p.CurrentLeaderEpoch, p.LogStartOffset, p.LastFetchedEpoch = -1, -1, -1
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	return req
}

func listOffsetsReq(topic string, part int32, ts int64) *kmsg.ListOffsetsRequest {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	t := kmsg.NewListOffsetsRequestTopic()
	t.Topic = topic
	p := kmsg.NewListOffsetsRequestTopicPartition()
	p.Partition, p.Timestamp, p.CurrentLeaderEpoch, p.MaxNumOffsets = part, ts, -1, 1
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	return req
}

// consumerProtocol encodes a classic consumer protocol subscription (version 0).
func subscription(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Version, m.Topics = 0, topics
	return m.AppendTo(nil)
}

func assignment(topic string, parts ...int32) []byte {
	a := kmsg.NewConsumerMemberAssignment()
	t := kmsg.NewConsumerMemberAssignmentTopic()
	t.Topic, t.Partitions = topic, parts
	a.Topics = append(a.Topics, t)
	return a.AppendTo(nil)
}

func joinReq(group, member string, topics ...string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Group, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = group, 10000, 10000
	req.MemberID, req.ProtocolType = member, "consumer"
	p := kmsg.NewJoinGroupRequestProtocol()
	p.Name, p.Metadata = "range", subscription(topics...)
	req.Protocols = append(req.Protocols, p)
	return req
}

// joinedMember runs the classic join (MEMBER_ID_REQUIRED, rejoin) and sync as a single
// member taking every partition listed; returns member id and generation. Recorded.
func (s *S) joinedMember(c *conn, group, topic string, parts ...int32) (string, int32) {
	s.waitCoordinator(c, group)
	// Set-up, quiet, at the newest versions the broker takes (join_group_v9_* records the
	// join itself): MEMBER_ID_REQUIRED then rejoin (JoinGroup v9 or v5), SyncGroup v5 or v3.
	var j2 *kmsg.JoinGroupResponse
	for _, v := range []int16{9, 5} {
		j, _ := s.quiet(c, joinReq(group, "", topic), v).(*kmsg.JoinGroupResponse)
		if j == nil {
			continue
		}
		j2 = j
		if j.ErrorCode == 79 {
			j2, _ = s.quiet(c, joinReq(group, j.MemberID, topic), v).(*kmsg.JoinGroupResponse)
		}
		break
	}
	if j2 == nil || j2.ErrorCode != 0 {
		s.note("join (set-up)", "failed")
		panic(stop{})
	}
	sy := kmsg.NewPtrSyncGroupRequest()
	sy.Group, sy.Generation, sy.MemberID = group, j2.Generation, j2.MemberID
	sy.ProtocolType, sy.Protocol = str("consumer"), str("range")
	ga := kmsg.NewSyncGroupRequestGroupAssignment()
	ga.MemberID, ga.MemberAssignment = j2.MemberID, assignment(topic, parts...)
	sy.GroupAssignment = append(sy.GroupAssignment, ga)
	var syr *kmsg.SyncGroupResponse
	for _, v := range []int16{5, 3} {
		if syr, _ = s.quiet(c, sy, v).(*kmsg.SyncGroupResponse); syr != nil {
			break
		}
	}
	s.note("join and sync (set-up)", map[string]any{"generation": j2.Generation, "leader": j2.LeaderID == j2.MemberID,
		"sync error": syr != nil && syr.ErrorCode == 0})
	return j2.MemberID, j2.Generation
}

func commitReq(group, member string, gen int32, topic string, part int32, offset int64, meta *string) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation, req.MemberID = group, gen, member
	t := kmsg.NewOffsetCommitRequestTopic()
	t.Topic = topic
	p := kmsg.NewOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset, p.Metadata, p.LeaderEpoch = part, offset, meta, -1
	t.Partitions = append(t.Partitions, p)
	req.Topics = append(req.Topics, t)
	return req
}

func hbReq(group, member string, gen int32) *kmsg.HeartbeatRequest {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.MemberID, req.Generation = group, member, gen
	return req
}

func describeConfigsReq(typ kmsg.ConfigResourceType, name string, names ...string) *kmsg.DescribeConfigsRequest {
	req := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName, r.ConfigNames = typ, name, names
	req.Resources = append(req.Resources, r)
	req.IncludeSynonyms, req.IncludeDocumentation = true, true
	return req
}

func incAlter(topic string, ops ...kmsg.IncrementalAlterConfigsRequestResourceConfig) *kmsg.IncrementalAlterConfigsRequest {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName, r.Configs = kmsg.ConfigResourceTypeTopic, topic, ops
	req.Resources = append(req.Resources, r)
	return req
}

func incOp(name string, op kmsg.IncrementalAlterConfigOp, value *string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Op, c.Value = name, op, value
	return c
}

// waitCoordinator waits, unrecorded, until the group coordinator answers for group without
// COORDINATOR_NOT_AVAILABLE / COORDINATOR_LOAD_IN_PROGRESS (a fresh Kafka creates and loads
// __consumer_offsets on first use; clients retry these errors).
func (s *S) waitCoordinator(c *conn, group string) {
	end := time.Now().Add(15 * time.Second)
	for time.Now().Before(end) {
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.CoordinatorKeys = []string{group}
		r, _ := s.quiet(c, fc, 4).(*kmsg.FindCoordinatorResponse)
		if r != nil && len(r.Coordinators) == 1 && r.Coordinators[0].ErrorCode == 0 {
			dg := kmsg.NewPtrDescribeGroupsRequest()
			dg.Groups = []string{group}
			d, _ := s.quiet(c, dg, 5).(*kmsg.DescribeGroupsResponse)
			if d == nil || len(d.Groups) != 1 || (d.Groups[0].ErrorCode != 14 && d.Groups[0].ErrorCode != 15) {
				return
			}
		}
		if r == nil {
			return // a broker without FindCoordinator v4: the recorded call shows it
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// both records the same request at the target version and at an older one every Kafka 4
// broker also takes: a broker without the target version then still shows its semantics.
func (s *S) both(c *conn, step string, req kmsg.Request, target, older int16) {
	s.call(c, step, req, target)
	s.call(c, step, req, older)
}

// initPID asks for an idempotent producer id quietly until the broker is past
// COORDINATOR_LOAD_IN_PROGRESS / NOT_COORDINATOR (a fresh Kafka allocates producer id blocks
// through its controller), then records the answer.
func (s *S) initPID(c *conn, step string, txn *string) *kmsg.InitProducerIDResponse {
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.TransactionalID, ip.TransactionTimeoutMillis = txn, 60000
	end := time.Now().Add(10 * time.Second)
	for time.Now().Before(end) {
		r, _ := s.quiet(c, ip, 4).(*kmsg.InitProducerIDResponse)
		if r == nil || (r.ErrorCode != 14 && r.ErrorCode != 15 && r.ErrorCode != 16) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	r, _ := s.call(c, step, ip, 4).(*kmsg.InitProducerIDResponse)
	return r
}
