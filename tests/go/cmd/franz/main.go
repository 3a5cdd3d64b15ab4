// The franz-go tier: kgo (producer with idempotence, acks, the four codecs; direct and group
// consumers with the range and cooperative-sticky balancers) and kadm (topics, configs,
// partitions, offsets, records, groups, lag, cluster) against one broker. TAP on stdout.
//
//	franz -b HOST:PORT
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"weir.dev/compat/tap"
)

var seeds string

func client(opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{kgo.SeedBrokers(seeds), kgo.RequestTimeoutOverhead(5 * time.Second),
		kgo.RetryTimeout(15 * time.Second), kgo.ProducerLinger(5 * time.Millisecond)}
	return kgo.NewClient(append(base, opts...)...)
}

func admin() (*kadm.Client, *kgo.Client, error) {
	cl, err := client()
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl, nil
}

func createTopic(ctx context.Context, adm *kadm.Client, name string, parts int32, cfg map[string]*string) error {
	r, err := adm.CreateTopic(ctx, parts, 1, cfg, name)
	if err != nil {
		return err
	}
	if r.Err != nil {
		return fmt.Errorf("create %s: %w", name, r.Err)
	}
	for ctx.Err() == nil { // wait until every partition has a leader
		md, err := adm.Metadata(ctx, name)
		if err == nil {
			if t, ok := md.Topics[name]; ok && t.Err == nil && len(t.Partitions) == int(parts) {
				ready := true
				for _, p := range t.Partitions {
					ready = ready && p.Leader >= 0 && p.Err == nil
				}
				if ready { // and every partition answers ListOffsets (its leader serves it)
					ends, err := adm.ListEndOffsets(ctx, name)
					ok := err == nil
					ends.Each(func(o kadm.ListedOffset) { ok = ok && o.Err == nil })
					if ok && len(ends[name]) == int(parts) {
						return nil
					}
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ctx.Err()
}

func produce(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) ([]*kgo.Record, error) {
	res := cl.ProduceSync(ctx, recs...)
	return recs, res.FirstErr()
}

// consumeAll reads n records from the start of every partition of topic.
func consumeAll(ctx context.Context, topic string, n int) ([]*kgo.Record, error) {
	cl, err := client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(out) < n && ctx.Err() == nil {
		f := cl.PollFetches(ctx)
		if errs := f.Errors(); len(errs) > 0 && ctx.Err() == nil {
			return out, fmt.Errorf("fetch: %v", errs[0].Err)
		}
		out = append(out, f.Records()...)
	}
	if len(out) != n {
		return out, fmt.Errorf("read %d records, want %d", len(out), n)
	}
	return out, nil
}

func main() {
	flag.StringVar(&seeds, "b", "", "bootstrap host:port")
	flag.Parse()
	t := tap.New()
	t.Run("kgo producer: idempotent acks=all, 3000 records to 3 partitions, offsets contiguous", 40*time.Second, idempotent)
	t.Run("kgo producer: acks=1 and acks=0 without idempotence, end offsets exact", 40*time.Second, acks)
	t.Run("kgo producer: gzip, snappy, lz4, zstd batches round trip with keys and headers", 60*time.Second, codecs)
	t.Run("kgo direct consumer: from offset 25, from the end, a mid-batch offset", 30*time.Second, direct)
	t.Run("kgo group, range balancer: 2 members 2+2, 400 records once, commits exact", 60*time.Second, func(ctx context.Context) error { return group(ctx, "range") })
	t.Run("kgo group, cooperative-sticky: second member takes 2, the first keeps 2 without losing all", 60*time.Second, func(ctx context.Context) error { return group(ctx, "cooperative") })
	t.Run("kadm: create (configs, errors), list, describe, partitions, configs, delete topics", 40*time.Second, topics)
	t.Run("kadm: start/end/time/max-timestamp offsets, delete records", 30*time.Second, offsets)
	t.Run("kadm: groups: list with states, describe, lag, commit/fetch/delete offsets, delete", 60*time.Second, groups)
	t.Run("kadm: brokers, api versions, cluster id and controller, log dirs", 30*time.Second, cluster)
	t.Done()
}

func idempotent(ctx context.Context) error {
	adm, cl, err := admin()
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := createTopic(ctx, adm, "fr-idem", 3, nil); err != nil {
		return err
	}
	p, err := client(kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	if err != nil {
		return err
	}
	defer p.Close()
	var recs []*kgo.Record
	for i := 0; i < 3000; i++ {
		recs = append(recs, &kgo.Record{Topic: "fr-idem", Partition: int32(i % 3), Key: []byte(fmt.Sprint("k", i)), Value: []byte(fmt.Sprint("v", i))})
	}
	if _, err := produce(ctx, p, recs); err != nil {
		return err
	}
	for i, r := range recs {
		if r.Offset != int64(i/3) {
			return fmt.Errorf("record %d: offset %d, want %d", i, r.Offset, i/3)
		}
		if r.ProducerID < 0 {
			return fmt.Errorf("record %d: no producer id (idempotence off?)", i)
		}
	}
	got, err := consumeAll(ctx, "fr-idem", 3000)
	if err != nil {
		return err
	}
	next := map[int32]int64{}
	for _, r := range got {
		if r.Offset != next[r.Partition] {
			return fmt.Errorf("partition %d: offset %d, want %d", r.Partition, r.Offset, next[r.Partition])
		}
		next[r.Partition]++
		want := fmt.Sprint("v", int(r.Offset)*3+int(r.Partition))
		if string(r.Value) != want {
			return fmt.Errorf("p%d@%d: value %q, want %q", r.Partition, r.Offset, r.Value, want)
		}
	}
	return nil
}

func acks(ctx context.Context) error {
	adm, cl, err := admin()
	if err != nil {
		return err
	}
	defer cl.Close()
	for _, a := range []struct {
		name string
		acks kgo.Acks
	}{{"fr-acks1", kgo.LeaderAck()}, {"fr-acks0", kgo.NoAck()}} {
		if err := createTopic(ctx, adm, a.name, 2, nil); err != nil {
			return err
		}
		p, err := client(kgo.RequiredAcks(a.acks), kgo.DisableIdempotentWrite(), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		if err != nil {
			return err
		}
		var recs []*kgo.Record
		for i := 0; i < 1000; i++ {
			recs = append(recs, &kgo.Record{Topic: a.name, Partition: int32(i % 2), Value: []byte("x")})
		}
		_, err = produce(ctx, p, recs)
		p.Close()
		if err != nil {
			return err
		}
		var ends kadm.ListedOffsets
		for i := 0; i < 50; i++ { // acks=0: nothing tells when the last write landed
			if ends, err = adm.ListEndOffsets(ctx, a.name); err != nil {
				return err
			}
			o0, _ := ends.Lookup(a.name, 0)
			if o1, _ := ends.Lookup(a.name, 1); o0.Offset == 500 && o1.Offset == 500 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		for part := int32(0); part < 2; part++ {
			o, _ := ends.Lookup(a.name, part)
			if err := tap.First(o.Err, tap.Eq(a.name+" end offset", int64(500), o.Offset)); err != nil {
				return err
			}
		}
	}
	return nil
}

func codecs(ctx context.Context) error {
	adm, cl, err := admin()
	if err != nil {
		return err
	}
	defer cl.Close()
	for _, c := range []struct {
		name  string
		codec kgo.CompressionCodec
	}{{"gzip", kgo.GzipCompression()}, {"snappy", kgo.SnappyCompression()}, {"lz4", kgo.Lz4Compression()}, {"zstd", kgo.ZstdCompression()}} {
		topic := "fr-codec-" + c.name
		if err := createTopic(ctx, adm, topic, 1, nil); err != nil {
			return err
		}
		p, err := client(kgo.ProducerBatchCompression(c.codec), kgo.ProducerLinger(50*time.Millisecond))
		if err != nil {
			return err
		}
		var recs []*kgo.Record
		for i := 0; i < 500; i++ {
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint("key", i%5)),
				Value:   []byte(strings.Repeat(fmt.Sprint(c.name, i, " "), 10)),
				Headers: []kgo.RecordHeader{{Key: "i", Value: []byte(fmt.Sprint(i))}, {Key: "empty"}}})
		}
		_, err = produce(ctx, p, recs)
		p.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		got, err := consumeAll(ctx, topic, 500)
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		for i, r := range got {
			if string(r.Value) != string(recs[i].Value) || string(r.Key) != string(recs[i].Key) ||
				len(r.Headers) != 2 || string(r.Headers[0].Value) != fmt.Sprint(i) || r.Headers[1].Key != "empty" ||
				len(r.Headers[1].Value) != 0 {
				return fmt.Errorf("%s: record %d differs: %q/%q %v", c.name, i, r.Key, r.Value, r.Headers)
			}
		}
	}
	return nil
}

func direct(ctx context.Context) error {
	adm, cl, err := admin()
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := createTopic(ctx, adm, "fr-direct", 1, nil); err != nil {
		return err
	}
	p, err := client(kgo.ProducerLinger(100 * time.Millisecond))
	if err != nil {
		return err
	}
	var recs []*kgo.Record
	for i := 0; i < 100; i++ {
		recs = append(recs, &kgo.Record{Topic: "fr-direct", Value: []byte(fmt.Sprint(i))})
	}
	_, err = produce(ctx, p, recs)
	p.Close()
	if err != nil {
		return err
	}
	c, err := client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"fr-direct": {0: kgo.NewOffset().At(25)}}))
	if err != nil {
		return err
	}
	defer c.Close()
	var got []*kgo.Record
	for len(got) < 75 && ctx.Err() == nil {
		got = append(got, c.PollFetches(ctx).Records()...)
	}
	if err := tap.First(tap.Eq("records from 25", 75, len(got))); err != nil {
		return err
	}
	if got[0].Offset != 25 || string(got[0].Value) != "25" || got[74].Offset != 99 {
		return fmt.Errorf("first %d/%s last %d", got[0].Offset, got[0].Value, got[74].Offset)
	}
	e, err := client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"fr-direct": {0: kgo.NewOffset().AtEnd()}}))
	if err != nil {
		return err
	}
	defer e.Close()
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if n := len(e.PollFetches(short).Records()); n != 0 {
		return fmt.Errorf("%d records past the end", n)
	}
	return nil
}

func fill4(ctx context.Context, adm *kadm.Client, topic string) error {
	if err := createTopic(ctx, adm, topic, 4, nil); err != nil {
		return err
	}
	p, err := client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return err
	}
	defer p.Close()
	var recs []*kgo.Record
	for i := 0; i < 400; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % 4), Value: []byte(fmt.Sprint(i))})
	}
	_, err = produce(ctx, p, recs)
	return err
}

func group(ctx context.Context, kind string) error {
	adm, cl, err := admin()
	if err != nil {
		return err
	}
	defer cl.Close()
	topic, grp := "fr-grp-"+kind, "fr-g-"+kind
	if err := fill4(ctx, adm, topic); err != nil {
		return err
	}
	bal := kgo.RangeBalancer()
	if kind == "cooperative" {
		bal = kgo.CooperativeStickyBalancer()
	}
	revokedA := 0
	mk := func(onRevoke func(map[string][]int32)) (*kgo.Client, error) {
		return client(kgo.ConsumerGroup(grp), kgo.ConsumeTopics(topic), kgo.Balancers(bal),
			kgo.DisableAutoCommit(), kgo.SessionTimeout(10*time.Second), kgo.HeartbeatInterval(500*time.Millisecond),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
				if onRevoke != nil {
					onRevoke(m)
				}
			}))
	}
	a, err := mk(func(m map[string][]int32) { revokedA += len(m[topic]) })
	if err != nil {
		return err
	}
	defer a.Close()
	seen := map[string]bool{}
	poll := func(c *kgo.Client) error {
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		f := c.PollFetches(short)
		for _, fe := range f.Errors() {
			if !errors.Is(fe.Err, context.DeadlineExceeded) && !errors.Is(fe.Err, context.Canceled) {
				return fmt.Errorf("poll: %v", fe.Err)
			}
		}
		f.EachRecord(func(r *kgo.Record) { seen[fmt.Sprint(r.Partition, "/", r.Offset)] = true })
		return nil
	}
	// a alone first: it must own all 4 partitions.
	for ctx.Err() == nil && len(assigned(a)[topic]) < 4 {
		if err := poll(a); err != nil {
			return err
		}
	}
	b, err := mk(nil)
	if err != nil {
		return err
	}
	defer b.Close()
	owned := func(c *kgo.Client) []int32 {
		var ps []int32
		for _, p := range assigned(c)[topic] {
			ps = append(ps, p)
		}
		sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
		return ps
	}
	for ctx.Err() == nil {
		if err := poll(a); err != nil {
			return err
		}
		if err := poll(b); err != nil {
			return err
		}
		if len(owned(a)) == 2 && len(owned(b)) == 2 && len(seen) == 400 && caughtUp(ctx, a, b) {
			break
		}
	}
	if err := tap.First(tap.Eq("partitions of a", 2, len(owned(a))), tap.Eq("partitions of b", 2, len(owned(b))),
		tap.Eq("distinct records", 400, len(seen))); err != nil {
		return err
	}
	if kind == "cooperative" && revokedA != 2 {
		return fmt.Errorf("a revoked %d partitions, want exactly the 2 that moved", revokedA)
	}
	for _, c := range []*kgo.Client{a, b} {
		if err := c.CommitUncommittedOffsets(ctx); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
	}
	offs, err := adm.FetchOffsets(ctx, grp)
	if err != nil {
		return err
	}
	for p := int32(0); p < 4; p++ {
		o, ok := offs.Lookup(topic, p)
		if !ok || o.Err != nil || o.At != 100 {
			return fmt.Errorf("committed offset of partition %d: %+v", p, o)
		}
	}
	dg, err := adm.DescribeGroups(ctx, grp)
	if err != nil {
		return err
	}
	g := dg[grp]
	wantProto := "range"
	if kind == "cooperative" {
		wantProto = "cooperative-sticky"
	}
	return tap.First(g.Err, tap.Eq("state", "Stable", g.State), tap.Eq("protocol", wantProto, g.Protocol), tap.Eq("members", 2, len(g.Members)))
}

// assigned: the partitions a group member currently consumes, from its uncommitted offsets
// bookkeeping (franz-go tracks every assigned partition there once fetched).
func assigned(c *kgo.Client) map[string][]int32 {
	out := map[string][]int32{}
	for t, ps := range c.UncommittedOffsets() {
		for p := range ps {
			out[t] = append(out[t], p)
		}
	}
	return out
}

func caughtUp(ctx context.Context, cs ...*kgo.Client) bool {
	for _, c := range cs {
		for _, ps := range c.UncommittedOffsets() {
			for _, o := range ps {
				if o.Offset != 100 {
					return false
				}
			}
		}
	}
	return true
}

func ptr(s string) *string { return &s }

func topics(ctx context.Context) error {
	adm, cl, err := admin()
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := createTopic(ctx, adm, "fr-adm", 2, map[string]*string{"retention.ms": ptr("7200000")}); err != nil {
		return err
	}
	// kadm returns the topic's error both in the result and as the call's error.
	r, _ := adm.CreateTopic(ctx, 1, 1, nil, "fr-adm")
	if r.Err == nil || !strings.Contains(r.Err.Error(), "TOPIC_ALREADY_EXISTS") {
		return fmt.Errorf("re-create: topic err=%v, want TOPIC_ALREADY_EXISTS", r.Err)
	}
	r, _ = adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": ptr("sometimes")}, "fr-badcfg")
	if r.Err == nil || !strings.Contains(r.Err.Error(), "INVALID_CONFIG") {
		return fmt.Errorf("bad config: topic err=%v, want INVALID_CONFIG", r.Err)
	}
	td, err := adm.ListTopics(ctx)
	if err != nil {
		return err
	}
	if !td.Has("fr-adm") || td.Has("fr-badcfg") {
		return fmt.Errorf("listed topics: %v", td.Names())
	}
	if d := td["fr-adm"]; len(d.Partitions) != 2 || d.ID == [16]byte{} {
		return fmt.Errorf("fr-adm: %d partitions, id %v (want 2 and a topic id)", len(d.Partitions), d.ID)
	}
	if _, err := adm.CreatePartitions(ctx, 2, "fr-adm"); err != nil {
		return err
	}
	td, _ = adm.ListTopics(ctx, "fr-adm")
	if n := len(td["fr-adm"].Partitions); n != 4 {
		return fmt.Errorf("partitions after +2: %d", n)
	}
	rc, err := adm.DescribeTopicConfigs(ctx, "fr-adm")
	if err != nil {
		return err
	}
	c, err := rc.On("fr-adm", nil)
	if err != nil {
		return err
	}
	var ret, seg kadm.Config
	for _, cv := range c.Configs {
		switch cv.Key {
		case "retention.ms":
			ret = cv
		case "segment.bytes":
			seg = cv
		}
	}
	if err := tap.First(tap.Eq("retention.ms", "7200000", ret.MaybeValue()), tap.Eq("retention.ms source", "DYNAMIC_TOPIC_CONFIG", ret.Source.String()),
		tap.Eq("segment.bytes", "1073741824", seg.MaybeValue()), tap.Eq("segment.bytes source", "DEFAULT_CONFIG", seg.Source.String())); err != nil {
		return err
	}
	ar, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: ptr("60000")}}, "fr-adm")
	if err != nil || ar[0].Err != nil {
		return fmt.Errorf("alter: %v %v", err, ar)
	}
	rc, _ = adm.DescribeTopicConfigs(ctx, "fr-adm")
	c, _ = rc.On("fr-adm", nil)
	for _, cv := range c.Configs {
		if cv.Key == "retention.ms" && cv.MaybeValue() != "60000" {
			return fmt.Errorf("retention.ms after alter: %s", cv.MaybeValue())
		}
	}
	dr, err := adm.DeleteTopics(ctx, "fr-adm", "fr-missing")
	if err != nil {
		return err
	}
	if dr["fr-adm"].Err != nil || dr["fr-missing"].Err == nil || !strings.Contains(dr["fr-missing"].Err.Error(), "UNKNOWN_TOPIC_OR_PARTITION") {
		return fmt.Errorf("delete: fr-adm %v, fr-missing %v", dr["fr-adm"].Err, dr["fr-missing"].Err)
	}
	return nil
}

func offsets(ctx context.Context) error {
	adm, cl, err := admin()
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := createTopic(ctx, adm, "fr-offs", 1, nil); err != nil {
		return err
	}
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	var recs []*kgo.Record
	for i, d := range []int{4, 1, 8, 2, 6} {
		recs = append(recs, &kgo.Record{Topic: "fr-offs", Value: []byte(fmt.Sprint(i)), Timestamp: base.Add(time.Duration(d) * time.Second)})
	}
	p, err := client()
	if err != nil {
		return err
	}
	_, err = produce(ctx, p, recs)
	p.Close()
	if err != nil {
		return err
	}
	look := func(lo kadm.ListedOffsets, err error) (int64, int64, error) {
		if err != nil {
			return 0, 0, err
		}
		o, _ := lo.Lookup("fr-offs", 0)
		return o.Offset, o.Timestamp, o.Err
	}
	s, _, err1 := look(adm.ListStartOffsets(ctx, "fr-offs"))
	e, _, err2 := look(adm.ListEndOffsets(ctx, "fr-offs"))
	at, ts, err3 := look(adm.ListOffsetsAfterMilli(ctx, base.Add(5*time.Second).UnixMilli(), "fr-offs"))
	mx, mts, err4 := look(adm.ListMaxTimestampOffsets(ctx, "fr-offs"))
	if err := tap.First(err1, err2, err3, err4, tap.Eq("start", int64(0), s), tap.Eq("end", int64(5), e),
		tap.Eq("first offset at or after base+5s", int64(2), at), tap.Eq("its timestamp", base.Add(8*time.Second).UnixMilli(), ts),
		tap.Eq("max-timestamp offset", int64(2), mx), tap.Eq("max timestamp", base.Add(8*time.Second).UnixMilli(), mts)); err != nil {
		return err
	}
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "fr-offs", Partition: 0, At: 3})
	dr, err := adm.DeleteRecords(ctx, os)
	if err != nil {
		return err
	}
	d, _ := dr.Lookup("fr-offs", 0)
	if err := tap.First(d.Err, tap.Eq("low watermark", int64(3), d.LowWatermark)); err != nil {
		return err
	}
	s, _, err = look(adm.ListStartOffsets(ctx, "fr-offs"))
	return tap.First(err, tap.Eq("start after delete", int64(3), s))
}

func groups(ctx context.Context) error {
	adm, cl, err := admin()
	if err != nil {
		return err
	}
	defer cl.Close()
	topic, grp := "fr-gadm", "fr-g-admin"
	if err := fill4(ctx, adm, topic); err != nil {
		return err
	}
	c, err := client(kgo.ConsumerGroup(grp), kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.ClientID("fr-admin-member"))
	if err != nil {
		return err
	}
	n := 0
	for n < 400 && ctx.Err() == nil {
		n += len(c.PollFetches(ctx).Records())
	}
	// An admin commit (generation -1) to a group with a live member is refused.
	os := kadm.Offsets{}
	for p := int32(0); p < 4; p++ {
		os.Add(kadm.Offset{Topic: topic, Partition: p, At: 60, Metadata: "m"})
	}
	if err := adm.CommitAllOffsets(ctx, grp, os); err == nil || !strings.Contains(err.Error(), "UNKNOWN_MEMBER_ID") {
		return fmt.Errorf("admin commit while a member is active: %v, want UNKNOWN_MEMBER_ID", err)
	}
	// The member commits 60 of each partition's 100; then look at the lag.
	eo := map[string]map[int32]kgo.EpochOffset{topic: {}}
	for p := int32(0); p < 4; p++ {
		eo[topic][p] = kgo.EpochOffset{Epoch: -1, Offset: 60}
	}
	var cerr error
	c.CommitOffsetsSync(ctx, eo, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		cerr = err
		if err == nil {
			for _, t := range resp.Topics {
				for _, p := range t.Partitions {
					if p.ErrorCode != 0 && cerr == nil {
						cerr = fmt.Errorf("partition %d: error code %d", p.Partition, p.ErrorCode)
					}
				}
			}
		}
	})
	if cerr != nil {
		return fmt.Errorf("member commit: %w", cerr)
	}
	lg, err := adm.ListGroups(ctx)
	if err != nil {
		return err
	}
	if g, ok := lg[grp]; !ok || g.State != "Stable" || g.ProtocolType != "consumer" {
		return fmt.Errorf("listed group: %+v (want Stable, consumer)", lg[grp])
	}
	dg, err := adm.DescribeGroups(ctx, grp)
	if err != nil {
		return err
	}
	g := dg[grp]
	if err := tap.First(g.Err, tap.Eq("state", "Stable", g.State), tap.Eq("members", 1, len(g.Members))); err != nil {
		return err
	}
	if g.Members[0].ClientID != "fr-admin-member" {
		return fmt.Errorf("member client id %q", g.Members[0].ClientID)
	}
	lag, err := adm.Lag(ctx, grp)
	if err != nil {
		return err
	}
	if tot := lag[grp].Lag.Total(); tot != 160 {
		return fmt.Errorf("total lag %d, want 160", tot)
	}
	c.Close()
	fo, err := adm.FetchOffsets(ctx, grp)
	if err != nil {
		return err
	}
	o, _ := fo.Lookup(topic, 2)
	if err := tap.First(o.Err, tap.Eq("offset", int64(60), o.At)); err != nil {
		return err
	}
	del, err := adm.DeleteOffsets(ctx, grp, kadm.TopicsSet{topic: {0: {}}})
	if err != nil {
		return err
	}
	if e := del.Error(); e != nil {
		return fmt.Errorf("delete offsets: %w", e)
	}
	fo, _ = adm.FetchOffsets(ctx, grp)
	if _, ok := fo.Lookup(topic, 0); ok {
		return errors.New("partition 0 still has an offset after DeleteOffsets")
	}
	dr, err := adm.DeleteGroup(ctx, grp)
	if err != nil || dr.Err != nil {
		return fmt.Errorf("delete group: %v %v", err, dr.Err)
	}
	lg, _ = adm.ListGroups(ctx)
	if _, ok := lg[grp]; ok {
		return errors.New("deleted group still listed")
	}
	return nil
}

func cluster(ctx context.Context) error {
	adm, cl, err := admin()
	if err != nil {
		return err
	}
	defer cl.Close()
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		return err
	}
	if len(md.Brokers) != 1 || md.Controller != md.Brokers[0].NodeID || md.Cluster == "" {
		return fmt.Errorf("metadata: brokers %v controller %d cluster %q", md.Brokers, md.Controller, md.Cluster)
	}
	if fmt.Sprintf("%s:%d", md.Brokers[0].Host, md.Brokers[0].Port) != seeds {
		return fmt.Errorf("broker address %s:%d, want %s", md.Brokers[0].Host, md.Brokers[0].Port, seeds)
	}
	av, err := adm.ApiVersions(ctx)
	if err != nil {
		return err
	}
	for _, v := range av {
		if v.Err != nil {
			return v.Err
		}
		// What a Kafka 4 broker must serve for franz-go: Fetch >= 12 (flexible, sessions),
		// Metadata >= 9, DescribeCluster.
		for _, need := range []struct {
			key int16
			min int16
		}{{1, 12}, {3, 9}, {60, 0}, {23, 2}} {
			_, max, ok := v.KeyVersions(need.key)
			if !ok || max < need.min {
				return fmt.Errorf("api key %d: max %d (ok=%v), want >= %d", need.key, max, ok, need.min)
			}
		}
	}
	if err := createTopic(ctx, adm, "fr-ld", 1, nil); err != nil {
		return err
	}
	ld, err := adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{"fr-ld": {0: {}}})
	if err != nil {
		return err
	}
	for _, d := range ld {
		if e := d.Error(); e != nil {
			return e
		}
	}
	dirs := 0
	found := false
	ld.Each(func(d kadm.DescribedLogDir) {
		dirs++
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) { found = found || p.Topic == "fr-ld" })
	})
	if dirs != 1 || !found {
		return fmt.Errorf("log dirs: %d dirs, fr-ld found %v", dirs, found)
	}
	return nil
}
