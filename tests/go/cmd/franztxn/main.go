// franztxn: franz-go transactions (tests/compat/test_txn_franz.sh drives it). Modes:
//
//	franztxn -b HOST:PORT -mode basics                  kgo transactional producer cases, TAP
//	franztxn -b HOST:PORT -mode setup -n N              creates the topics, writes N input records
//	franztxn -b HOST:PORT -mode worker -id W            a GroupTransactSession worker, until killed
//	franztxn -b HOST:PORT -mode verify -n N             checks the output and the group, TAP lines
//
// The workers consume ftx-in in the group ftx-group, write one record per input record to
// ftx-out (key: the input partition, so each input partition's outputs share an output
// partition; value: "partition:offset:value"), and commit the input offsets with the
// transaction. "PROGRESS n" after each committed transaction (n: records so far).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"weir.dev/compat/tap"
)

const (
	inTopic  = "ftx-in"
	outTopic = "ftx-out"
	group    = "ftx-group"
	inParts  = 4
)

var seeds string

func client(opts ...kgo.Opt) (*kgo.Client, error) {
	base := []kgo.Opt{kgo.SeedBrokers(seeds), kgo.RequestTimeoutOverhead(5 * time.Second),
		kgo.RetryTimeout(20 * time.Second), kgo.ProducerLinger(5 * time.Millisecond)}
	return kgo.NewClient(append(base, opts...)...)
}

func createTopic(ctx context.Context, adm *kadm.Client, name string, parts int32) error {
	r, err := adm.CreateTopic(ctx, parts, 1, nil, name)
	if err != nil {
		return err
	}
	if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create %s: %w", name, r.Err)
	}
	for ctx.Err() == nil { // every partition with a leader that answers ListOffsets
		ends, err := adm.ListEndOffsets(ctx, name)
		ok := err == nil && len(ends[name]) == int(parts)
		ends.Each(func(o kadm.ListedOffset) { ok = ok && o.Err == nil })
		if ok {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return ctx.Err()
}

type rec struct {
	part   int32
	offset int64
	value  string
}

// readAll reads topic from the start with the isolation level until want records came (then
// a little longer, to catch extras) or ctx ends.
func readAll(ctx context.Context, topic string, committed bool, want int) ([]rec, error) {
	opts := []kgo.Opt{kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200 * time.Millisecond)}
	if committed {
		opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	cl, err := client(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []rec
	var extra time.Time
	for ctx.Err() == nil {
		if len(out) >= want {
			if extra.IsZero() {
				extra = time.Now().Add(700 * time.Millisecond)
			} else if time.Now().After(extra) {
				break
			}
		}
		pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		f := cl.PollFetches(pctx)
		cancel()
		for _, e := range f.Errors() {
			if !errors.Is(e.Err, context.DeadlineExceeded) && !errors.Is(e.Err, context.Canceled) {
				return out, fmt.Errorf("fetch: %v", e.Err)
			}
		}
		f.EachRecord(func(r *kgo.Record) { out = append(out, rec{r.Partition, r.Offset, string(r.Value)}) })
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].part != out[j].part {
			return out[i].part < out[j].part
		}
		return out[i].offset < out[j].offset
	})
	return out, nil
}

func main() {
	flag.StringVar(&seeds, "b", "", "bootstrap host:port")
	mode := flag.String("mode", "basics", "basics, setup, worker or verify")
	n := flag.Int("n", 3000, "input records")
	id := flag.String("id", "1", "worker id (its transactional id is ftx-worker-ID)")
	timeout := flag.Duration("timeout", 90*time.Second, "verify: how long to wait for the output")
	flag.Parse()
	switch *mode {
	case "basics":
		basics()
	case "setup":
		if err := setup(*n); err != nil {
			fmt.Fprintln(os.Stderr, "setup:", err)
			os.Exit(1)
		}
	case "worker":
		if err := worker(*id); err != nil {
			fmt.Fprintln(os.Stderr, "worker:", err)
			os.Exit(1)
		}
	case "verify":
		if !verify(*n, *timeout) {
			os.Exit(1)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", *mode)
		os.Exit(2)
	}
}

// ---- basics --------------------------------------------------------------------------------

func basics() {
	t := tap.New()
	t.Run("kgo transactional producer: commit, abort, commit over 3 partitions; read_committed and read_uncommitted exact", 60*time.Second, commitAbort)
	t.Run("kgo: a second client with the same transactional id fences the first (INVALID_PRODUCER_EPOCH, then fatal PRODUCER_FENCED)", 60*time.Second, fencing)
	t.Run("kadm: DescribeTransactions and ListTransactions of the ids above", 30*time.Second, describe)
	t.Done()
}

func txnClient(tid string) (*kgo.Client, error) {
	return client(kgo.TransactionalID(tid), kgo.TransactionTimeout(30*time.Second),
		kgo.DefaultProduceTopic("ftx-basics"))
}

func produceIn(ctx context.Context, cl *kgo.Client, topic string, vals ...string) error {
	var recs []*kgo.Record
	for i, v := range vals {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(fmt.Sprint("k", i%3)), Value: []byte(v)})
	}
	return cl.ProduceSync(ctx, recs...).FirstErr()
}

func commitAbort(ctx context.Context) error {
	cl, err := client()
	if err != nil {
		return err
	}
	defer cl.Close()
	if err := createTopic(ctx, kadm.NewClient(cl), "ftx-basics", 3); err != nil {
		return err
	}
	p, err := client(kgo.TransactionalID("ftx-basics"), kgo.TransactionTimeout(30*time.Second),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return err
	}
	defer p.Close()
	txn := func(prefix string, commit kgo.TransactionEndTry, parts ...int32) error {
		if err := p.BeginTransaction(); err != nil {
			return err
		}
		var recs []*kgo.Record
		for _, part := range parts {
			for i := 0; i < 3; i++ {
				recs = append(recs, &kgo.Record{Topic: "ftx-basics", Partition: part, Value: []byte(fmt.Sprintf("%s-%d-%d", prefix, part, i))})
			}
		}
		if err := p.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return err
		}
		return p.EndTransaction(ctx, commit)
	}
	// c1 at 0-2 (marker 3), a2 at 4-6 (marker 7), c3 at 8-10 (marker 11) on partitions 0 and 2;
	// partition 1 gets only the first two transactions (HW 8).
	if err := tap.First(txn("c1", kgo.TryCommit, 0, 1, 2), txn("a2", kgo.TryAbort, 0, 1, 2), txn("c3", kgo.TryCommit, 0, 2)); err != nil {
		return err
	}
	var wantC, wantAll []string
	for part := int32(0); part < 3; part++ {
		for i := 0; i < 3; i++ {
			wantC = append(wantC, fmt.Sprintf("%d/%d/c1-%d-%d", part, i, part, i))
			wantAll = append(wantAll, fmt.Sprintf("%d/%d/c1-%d-%d", part, i, part, i))
		}
		for i := 0; i < 3; i++ {
			wantAll = append(wantAll, fmt.Sprintf("%d/%d/a2-%d-%d", part, 4+i, part, i))
		}
		if part != 1 {
			for i := 0; i < 3; i++ {
				wantC = append(wantC, fmt.Sprintf("%d/%d/c3-%d-%d", part, 8+i, part, i))
				wantAll = append(wantAll, fmt.Sprintf("%d/%d/c3-%d-%d", part, 8+i, part, i))
			}
		}
	}
	show := func(rs []rec) []string {
		var out []string
		for _, r := range rs {
			out = append(out, fmt.Sprintf("%d/%d/%s", r.part, r.offset, r.value))
		}
		return out
	}
	gotC, err := readAll(ctx, "ftx-basics", true, len(wantC))
	if err != nil {
		return err
	}
	gotAll, err := readAll(ctx, "ftx-basics", false, len(wantAll))
	if err != nil {
		return err
	}
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, "ftx-basics")
	if err != nil {
		return err
	}
	var hw []int64
	for part := int32(0); part < 3; part++ {
		o, _ := ends.Lookup("ftx-basics", part)
		hw = append(hw, o.Offset)
	}
	return tap.First(tap.Eq("read_committed", wantC, show(gotC)), tap.Eq("read_uncommitted", wantAll, show(gotAll)),
		tap.Eq("high watermarks", []int64{12, 8, 12}, hw))
}

func fencing(ctx context.Context) error {
	zombie, err := txnClient("ftx-fence")
	if err != nil {
		return err
	}
	defer zombie.Close()
	if err := zombie.BeginTransaction(); err != nil {
		return err
	}
	if err := produceIn(ctx, zombie, "ftx-basics", "zombie-1"); err != nil {
		return err
	}
	successor, err := txnClient("ftx-fence")
	if err != nil {
		return err
	}
	defer successor.Close()
	// kgo initializes the producer id lazily: the successor's first transaction does it.
	if err := successor.BeginTransaction(); err != nil {
		return err
	}
	if err := produceIn(ctx, successor, "ftx-basics", "successor"); err != nil {
		return fmt.Errorf("successor produce: %w", err)
	}
	// The zombie's next write has the old epoch: INVALID_PRODUCER_EPOCH. kgo then refuses to
	// commit (the produce failed), and its abort meets PRODUCER_FENCED, which it keeps as the
	// fatal error its next BeginTransaction returns.
	zerr := produceIn(ctx, zombie, "ftx-basics", "zombie-2")
	eerr := zombie.EndTransaction(ctx, kgo.TryCommit)
	zombie.EndTransaction(ctx, kgo.TryAbort)
	if err := successor.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("successor commit: %w", err)
	}
	berr := zombie.BeginTransaction()
	if eerr == nil {
		return fmt.Errorf("the zombie's commit after a fenced produce succeeded")
	}
	got, err := readAll(ctx, "ftx-basics", true, 16) // 15 from the case before, 1 here
	if err != nil {
		return err
	}
	var vals []string
	for _, r := range got {
		if strings.HasPrefix(r.value, "zombie") || r.value == "successor" {
			vals = append(vals, r.value)
		}
	}
	return tap.First(tap.Eq("the zombie's produce error", "INVALID_PRODUCER_EPOCH", kerrName(zerr)),
		tap.Eq("the zombie's next BeginTransaction: fatal PRODUCER_FENCED", true, errors.Is(berr, kerr.ProducerFenced)),
		tap.Eq("read_committed: the successor's record only", []string{"successor"}, vals))
}

func kerrName(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return fmt.Sprint(err)
}

func describe(ctx context.Context) error {
	cl, err := client()
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	d, err := adm.DescribeTransactions(ctx, "ftx-basics", "ftx-fence", "ftx-unknown")
	if err != nil {
		return err
	}
	states := map[string]string{}
	for id, t := range d {
		if t.Err != nil {
			states[id] = kerrName(t.Err)
		} else {
			states[id] = fmt.Sprintf("%s timeout=%d topics=%d", t.State, t.TimeoutMillis, len(t.Topics))
		}
	}
	l, err := adm.ListTransactions(ctx, nil, []string{"CompleteCommit"})
	if err != nil {
		return err
	}
	var ids []string
	l.Each(func(t kadm.ListedTransaction) {
		if strings.HasPrefix(t.TxnID, "ftx-") {
			ids = append(ids, t.TxnID)
		}
	})
	sort.Strings(ids)
	return tap.First(tap.Eq("described", map[string]string{
		"ftx-basics":  "CompleteCommit timeout=30000 topics=0",
		"ftx-fence":   "CompleteCommit timeout=30000 topics=0",
		"ftx-unknown": "TRANSACTIONAL_ID_NOT_FOUND",
	}, states), tap.Eq("listed in CompleteCommit", []string{"ftx-basics", "ftx-fence"}, ids))
}

// ---- the group exactly-once run ------------------------------------------------------------

func setup(n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if err := tap.First(createTopic(ctx, adm, inTopic, inParts), createTopic(ctx, adm, outTopic, inParts)); err != nil {
		return err
	}
	var recs []*kgo.Record
	for i := 0; i < n; i++ {
		recs = append(recs, &kgo.Record{Topic: inTopic, Partition: int32(i % inParts), Value: []byte(fmt.Sprint("v", i))})
	}
	return cl.ProduceSync(ctx, recs...).FirstErr()
}

func worker(id string) error {
	ctx := context.Background()
	s, err := kgo.NewGroupTransactSession(
		kgo.SeedBrokers(seeds),
		kgo.TransactionalID("ftx-worker-"+id),
		kgo.TransactionTimeout(10*time.Second),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.RequireStableFetchOffsets(),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(inTopic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.SessionTimeout(6*time.Second),
		kgo.HeartbeatInterval(500*time.Millisecond),
		kgo.ProducerLinger(2*time.Millisecond),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.RequestTimeoutOverhead(5*time.Second),
	)
	if err != nil {
		return err
	}
	defer s.Close()
	done := 0
	for {
		fs := s.PollRecords(ctx, 20)
		for _, e := range fs.Errors() {
			fmt.Fprintln(os.Stderr, "fetch error:", e.Err)
		}
		var recs []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) { recs = append(recs, r) })
		if len(recs) == 0 {
			continue
		}
		if err := s.Begin(); err != nil {
			return err
		}
		for _, r := range recs {
			out := &kgo.Record{Topic: outTopic, Key: []byte(fmt.Sprint("p", r.Partition)),
				Value: []byte(fmt.Sprintf("%d:%d:%s", r.Partition, r.Offset, r.Value))}
			s.Produce(ctx, out, func(_ *kgo.Record, err error) {
				if err != nil {
					fmt.Fprintln(os.Stderr, "produce:", err)
				}
			})
		}
		// Slow enough that the test kills a worker mid-way, with transactions open.
		time.Sleep(30 * time.Millisecond)
		committed, err := s.End(ctx, kgo.TryCommit)
		if err != nil {
			return err
		}
		if committed {
			done += len(recs)
			fmt.Printf("PROGRESS %d\n", done)
		} else {
			fmt.Printf("ABORTED %d\n", len(recs))
		}
	}
}

func tapLine(ok bool, name string, evidence ...string) bool {
	if ok {
		fmt.Printf("ok - %s\n", name)
		return true
	}
	fmt.Printf("not ok - %s\n", name)
	for _, e := range evidence {
		for _, l := range strings.Split(e, "\n") {
			fmt.Printf("    # %s\n", l)
		}
	}
	return false
}

func verify(n int, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	got, err := readAll(ctx, outTopic, true, n)
	if err != nil {
		return tapLine(false, "read the output", err.Error())
	}
	ok := tapLine(len(got) == n, fmt.Sprintf("read_committed output: exactly %d records", n), fmt.Sprintf("got %d", len(got)))
	// Every input record once; per input partition, its outputs in input order (one output
	// partition per input partition: the key).
	seen := map[string]int{}
	lastOffset := map[int64]int64{}
	outOf := map[int64]int32{}
	var dup, order, bad []string
	for _, r := range got {
		f := strings.SplitN(r.value, ":", 3)
		if len(f) != 3 {
			bad = append(bad, r.value)
			continue
		}
		inPart, _ := strconv.ParseInt(f[0], 10, 32)
		inOff, _ := strconv.ParseInt(f[1], 10, 64)
		want := fmt.Sprint("v", inOff*inParts+inPart)
		if f[2] != want {
			bad = append(bad, fmt.Sprintf("%s (want value %s)", r.value, want))
		}
		key := f[0] + ":" + f[1]
		seen[key]++
		if seen[key] == 2 {
			dup = append(dup, key)
		}
		if p, ok := outOf[inPart]; ok && p != r.part {
			bad = append(bad, fmt.Sprintf("input partition %d in output partitions %d and %d", inPart, p, r.part))
		}
		outOf[inPart] = r.part
		if last, ok := lastOffset[inPart]; ok && inOff != last+1 {
			order = append(order, fmt.Sprintf("input %d: offset %d after %d", inPart, inOff, last))
		} else if !ok && inOff != 0 {
			order = append(order, fmt.Sprintf("input %d starts at %d", inPart, inOff))
		}
		lastOffset[inPart] = inOff
	}
	missing := 0
	for i := 0; i < n; i++ {
		if seen[fmt.Sprintf("%d:%d", i%inParts, i/inParts)] == 0 {
			missing++
		}
	}
	first := func(l []string) string {
		if len(l) > 5 {
			l = l[:5]
		}
		return strings.Join(l, "\n")
	}
	ok = tapLine(len(dup) == 0 && missing == 0 && len(bad) == 0,
		"every input record exactly once in the output (no duplicate, no loss, values intact)",
		fmt.Sprintf("%d duplicates, %d missing, %d bad", len(dup), missing, len(bad)), first(dup), first(bad)) && ok
	ok = tapLine(len(order) == 0, "per input partition, its outputs in input order", first(order)) && ok
	cl, err := client()
	if err != nil {
		return tapLine(false, "admin client", err.Error())
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var offs []string
	for ctx.Err() == nil { // the last commit's markers land after EndTxn answered
		fo, err := adm.FetchOffsets(ctx, group)
		offs = nil
		if err == nil {
			for p := int32(0); p < inParts; p++ {
				o, _ := fo.Lookup(inTopic, p)
				offs = append(offs, fmt.Sprint(o.At))
			}
		}
		if strings.Join(offs, ",") == strings.Repeat(fmt.Sprint(n/inParts)+",", inParts-1)+fmt.Sprint(n/inParts) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	want := strings.Repeat(fmt.Sprint(n/inParts)+",", inParts-1) + fmt.Sprint(n/inParts)
	ok = tapLine(strings.Join(offs, ",") == want, "the group's committed offsets are the ends of the input",
		"want "+want, "got  "+strings.Join(offs, ",")) && ok
	all, err := readAll(ctx, outTopic, false, n)
	if err == nil {
		fmt.Printf("# read_uncommitted saw %d records, %d of them aborted\n", len(all), len(all)-len(got))
	}
	return ok
}
