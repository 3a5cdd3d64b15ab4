// The Sarama tier: sync producer (idempotent, acks=all), async producer (zstd), partition
// consumer, consumer group (range, two members, marks and commits) and ClusterAdmin, with
// config.Version = V4_0_0_0 as a Kafka 4 user sets it. TAP on stdout.
//
//	sarama -b HOST:PORT
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"weir.dev/compat/tap"
)

var seeds string

func config() *sarama.Config {
	c := sarama.NewConfig()
	c.Version = sarama.V4_0_0_0
	c.ClientID = "weir-compat-sarama"
	c.Net.DialTimeout = 5 * time.Second
	c.Net.ReadTimeout = 10 * time.Second
	c.Metadata.Retry.Max = 20
	c.Metadata.Retry.Backoff = 100 * time.Millisecond
	c.Producer.Return.Successes = true
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Admin.Timeout = 10 * time.Second
	return c
}

func admin() (sarama.ClusterAdmin, error) { return sarama.NewClusterAdmin([]string{seeds}, config()) }

func createTopic(adm sarama.ClusterAdmin, name string, parts int32) error {
	if err := adm.CreateTopic(name, &sarama.TopicDetail{NumPartitions: parts, ReplicationFactor: 1}, false); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	for i := 0; i < 100; i++ {
		md, err := adm.DescribeTopics([]string{name})
		if err == nil && len(md) == 1 && md[0].Err == sarama.ErrNoError && len(md[0].Partitions) == int(parts) {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("topic %s not ready", name)
}

func main() {
	flag.StringVar(&seeds, "b", "", "bootstrap host:port")
	flag.Parse()
	t := tap.New()
	t.Run("sarama sync producer: idempotent acks=all, 300 messages, exact partitions and offsets", 40*time.Second, syncProducer)
	t.Run("sarama async producer: zstd, 2000 messages, successes and contiguous offsets, read back exactly", 40*time.Second, asyncProducer)
	t.Run("sarama partition consumer: from offset 10, high watermark", 30*time.Second, partitionConsumer)
	t.Run("sarama consumer group: 2 members (range), 400 messages once, marked offsets committed", 60*time.Second, consumerGroup)
	t.Run("sarama ClusterAdmin: topics, partitions, configs, records, groups, cluster", 40*time.Second, clusterAdmin)
	t.Done()
}

func syncProducer(ctx context.Context) error {
	adm, err := admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	if err := createTopic(adm, "sa-sync", 3); err != nil {
		return err
	}
	c := config()
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Idempotent = true
	c.Net.MaxOpenRequests = 1
	p, err := sarama.NewSyncProducer([]string{seeds}, c)
	if err != nil {
		return err
	}
	defer p.Close()
	for i := 0; i < 300; i++ {
		part, off, err := p.SendMessage(&sarama.ProducerMessage{Topic: "sa-sync", Partition: int32(i % 3),
			Key: sarama.StringEncoder(fmt.Sprint("k", i)), Value: sarama.StringEncoder(fmt.Sprint("v", i)),
			Headers: []sarama.RecordHeader{{Key: []byte("h"), Value: []byte(fmt.Sprint(i))}}})
		if err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		if part != int32(i%3) || off != int64(i/3) {
			return fmt.Errorf("message %d: partition %d offset %d", i, part, off)
		}
	}
	return nil
}

func readPartition(topic string, part int32, from int64, n int) ([]*sarama.ConsumerMessage, error) {
	cons, err := sarama.NewConsumer([]string{seeds}, config())
	if err != nil {
		return nil, err
	}
	defer cons.Close()
	pc, err := cons.ConsumePartition(topic, part, from)
	if err != nil {
		return nil, err
	}
	defer pc.Close()
	var out []*sarama.ConsumerMessage
	deadline := time.After(20 * time.Second)
	for len(out) < n {
		select {
		case m := <-pc.Messages():
			out = append(out, m)
		case e := <-pc.Errors():
			return out, e
		case <-deadline:
			return out, fmt.Errorf("read %d of %d messages", len(out), n)
		}
	}
	return out, nil
}

func asyncProducer(ctx context.Context) error {
	adm, err := admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	if err := createTopic(adm, "sa-async", 2); err != nil {
		return err
	}
	c := config()
	c.Producer.Compression = sarama.CompressionZSTD
	c.Producer.Flush.Frequency = 5 * time.Millisecond
	c.Producer.Return.Errors = true
	p, err := sarama.NewAsyncProducer([]string{seeds}, c)
	if err != nil {
		return err
	}
	go func() {
		for i := 0; i < 2000; i++ {
			p.Input() <- &sarama.ProducerMessage{Topic: "sa-async", Partition: int32(i % 2), Value: sarama.StringEncoder(fmt.Sprint("async-", i)), Metadata: i}
		}
	}()
	offs := map[int32][]int64{}
	for got := 0; got < 2000; got++ {
		select {
		case m := <-p.Successes():
			offs[m.Partition] = append(offs[m.Partition], m.Offset)
		case e := <-p.Errors():
			p.AsyncClose()
			return e.Err
		case <-ctx.Done():
			return fmt.Errorf("%d of 2000 acknowledged", got)
		}
	}
	p.Close()
	for part, l := range offs {
		sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
		for i, o := range l {
			if o != int64(i) {
				return fmt.Errorf("partition %d: offsets not contiguous at %d (%d)", part, i, o)
			}
		}
		if len(l) != 1000 {
			return fmt.Errorf("partition %d: %d messages", part, len(l))
		}
	}
	msgs, err := readPartition("sa-async", 1, sarama.OffsetOldest, 1000)
	if err != nil {
		return err
	}
	for i, m := range msgs {
		if string(m.Value) != fmt.Sprint("async-", 2*i+1) || m.Offset != int64(i) {
			return fmt.Errorf("partition 1 @%d: %q", m.Offset, m.Value)
		}
	}
	return nil
}

func partitionConsumer(ctx context.Context) error {
	adm, err := admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	if err := createTopic(adm, "sa-part", 1); err != nil {
		return err
	}
	p, err := sarama.NewSyncProducer([]string{seeds}, config())
	if err != nil {
		return err
	}
	var msgs []*sarama.ProducerMessage
	for i := 0; i < 50; i++ {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: "sa-part", Partition: 0, Value: sarama.StringEncoder(fmt.Sprint(i))})
	}
	err = p.SendMessages(msgs)
	p.Close()
	if err != nil {
		return err
	}
	got, err := readPartition("sa-part", 0, 10, 40)
	if err != nil {
		return err
	}
	if got[0].Offset != 10 || string(got[0].Value) != "10" || got[39].Offset != 49 {
		return fmt.Errorf("first %d %q last %d", got[0].Offset, got[0].Value, got[39].Offset)
	}
	cl, err := sarama.NewClient([]string{seeds}, config())
	if err != nil {
		return err
	}
	defer cl.Close()
	hw, err := cl.GetOffset("sa-part", 0, sarama.OffsetNewest)
	lw, err2 := cl.GetOffset("sa-part", 0, sarama.OffsetOldest)
	return tap.First(err, err2, tap.Eq("high watermark", int64(50), hw), tap.Eq("log start", int64(0), lw))
}

type handler struct {
	mu     *sync.Mutex
	seen   map[string]int
	claims map[int32]bool
}

func (h handler) Setup(s sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for k := range h.claims {
		delete(h.claims, k)
	}
	for _, ps := range s.Claims() {
		for _, p := range ps {
			h.claims[p] = true
		}
	}
	return nil
}
func (h handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h handler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.mu.Lock()
		h.seen[fmt.Sprint(m.Partition, "/", m.Offset)]++
		h.mu.Unlock()
		s.MarkMessage(m, "")
	}
	return nil
}

func consumerGroup(ctx context.Context) error {
	adm, err := admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	if err := createTopic(adm, "sa-grp", 4); err != nil {
		return err
	}
	p, err := sarama.NewSyncProducer([]string{seeds}, config())
	if err != nil {
		return err
	}
	var msgs []*sarama.ProducerMessage
	for i := 0; i < 400; i++ {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: "sa-grp", Partition: int32(i % 4), Value: sarama.StringEncoder(fmt.Sprint(i))})
	}
	err = p.SendMessages(msgs)
	p.Close()
	if err != nil {
		return err
	}
	c := config()
	c.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	c.Consumer.Group.Session.Timeout = 10 * time.Second
	c.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	c.Consumer.Offsets.AutoCommit.Interval = 100 * time.Millisecond
	mu := &sync.Mutex{}
	seen := map[string]int{}
	hs := []handler{{mu, seen, map[int32]bool{}}, {mu, seen, map[int32]bool{}}}
	gctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var groups []sarama.ConsumerGroup
	errs := make(chan error, 8)
	for _, h := range hs {
		g, err := sarama.NewConsumerGroup([]string{seeds}, "sa-g", c)
		if err != nil {
			cancel()
			return err
		}
		groups = append(groups, g)
		wg.Add(1)
		go func(h handler) {
			defer wg.Done()
			for gctx.Err() == nil {
				if err := g.Consume(gctx, []string{"sa-grp"}, h); err != nil && !errors.Is(err, sarama.ErrClosedConsumerGroup) {
					errs <- err
					return
				}
			}
		}(h)
	}
	split := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(hs[0].claims) == 2 && len(hs[1].claims) == 2 && len(seen) == 400
	}
	var failure error
	for !split() && failure == nil {
		select {
		case e := <-errs:
			failure = e
		case <-ctx.Done():
			failure = errors.New("members never split the partitions 2+2 with all 400 messages read")
		case <-time.After(50 * time.Millisecond):
		}
	}
	time.Sleep(500 * time.Millisecond) // two auto-commit intervals
	cancel()
	for _, g := range groups {
		g.Close()
	}
	wg.Wait()
	if failure != nil {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Errorf("%w (claims %v %v, %d seen)", failure, hs[0].claims, hs[1].claims, len(seen))
	}
	offs, err := adm.ListConsumerGroupOffsets("sa-g", map[string][]int32{"sa-grp": {0, 1, 2, 3}})
	if err != nil {
		return err
	}
	for part := int32(0); part < 4; part++ {
		b := offs.GetBlock("sa-grp", part)
		if b == nil || b.Err != sarama.ErrNoError || b.Offset != 100 {
			return fmt.Errorf("committed offset of partition %d: %+v", part, b)
		}
	}
	return nil
}

func clusterAdmin(ctx context.Context) error {
	adm, err := admin()
	if err != nil {
		return err
	}
	defer adm.Close()
	brokers, controller, err := adm.DescribeCluster()
	if err != nil {
		return fmt.Errorf("describe cluster: %w", err)
	}
	if len(brokers) != 1 || controller != brokers[0].ID() {
		return fmt.Errorf("cluster: %d brokers, controller %d", len(brokers), controller)
	}
	if err := createTopic(adm, "sa-adm", 1); err != nil {
		return err
	}
	if err := adm.CreateTopic("sa-adm", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return fmt.Errorf("re-create: %v, want ErrTopicAlreadyExists", err)
	}
	if err := adm.CreatePartitions("sa-adm", 3, nil, false); err != nil {
		return fmt.Errorf("create partitions: %w", err)
	}
	md, err := adm.DescribeTopics([]string{"sa-adm"})
	if err != nil || len(md[0].Partitions) != 3 {
		return fmt.Errorf("describe after create partitions: %v %+v", err, md)
	}
	v := "3600000"
	if err := adm.IncrementalAlterConfig(sarama.TopicResource, "sa-adm", map[string]sarama.IncrementalAlterConfigsEntry{
		"retention.ms": {Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &v}}, false); err != nil {
		return fmt.Errorf("incremental alter: %w", err)
	}
	entries, err := adm.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: "sa-adm", ConfigNames: []string{"retention.ms"}})
	if err != nil || len(entries) != 1 || entries[0].Value != v || entries[0].Source != sarama.SourceTopic {
		return fmt.Errorf("describe config: %v %+v", err, entries)
	}
	p, err := sarama.NewSyncProducer([]string{seeds}, config())
	if err != nil {
		return err
	}
	for i := 0; i < 10; i++ {
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: "sa-adm", Partition: 0, Value: sarama.StringEncoder("x")}); err != nil {
			p.Close()
			return err
		}
	}
	p.Close()
	if err := adm.DeleteRecords("sa-adm", map[int32]int64{0: 4}); err != nil {
		return fmt.Errorf("delete records: %w", err)
	}
	cl, err := sarama.NewClient([]string{seeds}, config())
	if err != nil {
		return err
	}
	lw, err := cl.GetOffset("sa-adm", 0, sarama.OffsetOldest)
	cl.Close()
	if err := tap.First(err, tap.Eq("log start after delete records", int64(4), lw)); err != nil {
		return err
	}
	if err := adm.DeleteTopic("sa-adm"); err != nil {
		return fmt.Errorf("delete topic: %w", err)
	}
	if err := adm.DeleteTopic("sa-missing"); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		return fmt.Errorf("delete a missing topic: %v", err)
	}
	return nil
}
