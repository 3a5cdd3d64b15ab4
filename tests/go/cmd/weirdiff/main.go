// weirdiff runs small scripted Kafka client sessions ("scenarios") against one broker and
// prints, per scenario, a normalized JSON transcript of what a client can observe: every
// request (API key and version, pinned) and the broker's decoded answer, or the disconnect.
// tests/compat/test_differential.sh runs it against Apache Kafka and against Weir and compares
// the transcripts. Anyone can rerun one scenario against any broker:
//
//	weirdiff -b 127.0.0.1:9092 produce_bad_partition       # one scenario, transcript on stdout
//	weirdiff -b 127.0.0.1:9092 -out DIR                    # every scenario, DIR/NAME.json each
//	weirdiff -list                                         # the scenario names
//	weirdiff -b 127.0.0.1:9092 -match '^txn_' -out DIR     # a subset (-skip leaves one out)
//
// Requests go over a raw connection encoded by franz-go's kmsg at the exact version the
// scenario names (no negotiation), so a missing version shows as the broker's own answer.
// Normalized away: throttle times, free-text error messages, the cluster id, hosts, ports,
// topic ids / member ids / producer ids / fetch session ids (replaced by stable placeholders
// that keep equality: the same id twice stays the same placeholder), and the time inside
// broker-assigned timestamps. Topic names carry a per-run prefix (-prefix) so scenarios never
// meet each other's topics.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

type scenario struct {
	name string
	doc  string
	run  func(s *S)
}

var scenarios []scenario

func add(name, doc string, run func(s *S)) { scenarios = append(scenarios, scenario{name, doc, run}) }

// S is one scenario's session: its connections and its transcript.
type S struct {
	addr   string
	prefix string
	steps  []map[string]any
	conns  []*conn
	abort  error
}

type stop struct{}

func (s *S) topic(n string) string { return s.prefix + n }

// ---- the wire --------------------------------------------------------------------------------

type conn struct {
	c    net.Conn
	r    *bufio.Reader
	corr int32
	dead error
	addr string
}

func (s *S) dial() *conn {
	c, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		s.abort = err
		panic(stop{})
	}
	cn := &conn{c: c, r: bufio.NewReader(c), addr: s.addr}
	s.conns = append(s.conns, cn)
	return cn
}

func putUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

// roundTrip sends req at version v and decodes the answer; (nil, nil) for acks=0 produce.
func (c *conn) roundTrip(req kmsg.Request, v int16) (kmsg.Response, error) {
	if c.dead != nil {
		// The broker closed the connection (e.g. a version it lacks): like a client, the
		// next request goes over a new one, so each step stays independent.
		nc, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
		if err != nil {
			return nil, err
		}
		c.c.Close()
		c.c, c.r, c.dead = nc, bufio.NewReader(nc), nil
	}
	req.SetVersion(v)
	c.corr++
	h := make([]byte, 0, 64)
	h = binary.BigEndian.AppendUint16(h, uint16(req.Key()))
	h = binary.BigEndian.AppendUint16(h, uint16(v))
	h = binary.BigEndian.AppendUint32(h, uint32(c.corr))
	h = binary.BigEndian.AppendUint16(h, uint16(len("weirdiff")))
	h = append(h, "weirdiff"...)
	if req.IsFlexible() {
		h = putUvarint(h, 0)
	}
	msg := req.AppendTo(h)
	frame := binary.BigEndian.AppendUint32(nil, uint32(len(msg)))
	frame = append(frame, msg...)
	c.c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := c.c.Write(frame); err != nil {
		c.dead = err
		return nil, err
	}
	if p, ok := req.(*kmsg.ProduceRequest); ok && p.Acks == 0 {
		return nil, nil
	}
	var sz [4]byte
	if _, err := io.ReadFull(c.r, sz[:]); err != nil {
		c.dead = err
		return nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(sz[:]))
	if _, err := io.ReadFull(c.r, body); err != nil {
		c.dead = err
		return nil, err
	}
	if len(body) < 4 || int32(binary.BigEndian.Uint32(body)) != c.corr {
		c.dead = fmt.Errorf("bad correlation id")
		return nil, c.dead
	}
	body = body[4:]
	if req.IsFlexible() && req.Key() != 18 { // response header v1 has tagged fields
		n, k := binary.Uvarint(body)
		body = body[k:]
		for i := uint64(0); i < n; i++ {
			_, k = binary.Uvarint(body)
			body = body[k:]
			l, k2 := binary.Uvarint(body)
			body = body[k2+int(l):]
		}
	}
	resp := req.ResponseKind()
	resp.SetVersion(v)
	if req.Key() == 18 {
		// An ApiVersions answer to a version the broker lacks is a v0 body (KIP-511): its
		// error code says so (UNSUPPORTED_VERSION, 35).
		if len(body) >= 2 && binary.BigEndian.Uint16(body) == 35 {
			resp.SetVersion(0)
		}
		if err := resp.ReadFrom(body); err != nil {
			resp.SetVersion(0)
			if err2 := resp.ReadFrom(body); err2 != nil {
				return nil, fmt.Errorf("decode: %v", err)
			}
		}
		return resp, nil
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("undecodable %s v%d answer: %v", kmsg.NameForKey(req.Key()), v, err)
	}
	return resp, nil
}

// call sends a request on c, records the step, returns the typed response (nil on error).
func (s *S) call(c *conn, step string, req kmsg.Request, v int16) kmsg.Response {
	resp, err := c.roundTrip(req, v)
	return s.record(step, req, v, resp, err)
}

// record adds a step for an answer already had (or its error); returns the answer.
func (s *S) record(step string, req kmsg.Request, v int16, resp kmsg.Response, err error) kmsg.Response {
	rec := map[string]any{"step": step, "api": fmt.Sprintf("%s v%d", kmsg.NameForKey(req.Key()), v)}
	switch {
	case err != nil && (errors.Is(err, io.EOF) || strings.Contains(err.Error(), "reset by peer") || strings.Contains(err.Error(), "broken pipe")):
		rec["answer"] = "connection closed by the broker"
	case err != nil:
		rec["answer"] = "error: " + err.Error()
	case resp == nil:
		rec["answer"] = "no response (acks=0)"
	default:
		rec["answer"] = toJSON(resp)
	}
	s.steps = append(s.steps, rec)
	return resp
}

// quiet sends a request without recording it (set-up and polling).
func (s *S) quiet(c *conn, req kmsg.Request, v int16) kmsg.Response {
	resp, err := c.roundTrip(req, v)
	if err != nil {
		return nil
	}
	return resp
}

// note records an observation computed by the scenario.
func (s *S) note(step string, v any) {
	s.steps = append(s.steps, map[string]any{"step": step, "observed": v})
}

func toJSON(v any) any {
	b, _ := json.Marshal(v)
	var out any
	json.Unmarshal(b, &out)
	return out
}

// ---- record batches ---------------------------------------------------------------------------

type rec struct {
	key, value []byte // nil = null
	ts         int64  // delta from the batch's first timestamp
	headers    [][2][]byte
}

type batchOpt struct {
	pid      int64
	epoch    int16
	seq      int32
	firstTS  int64
	corrupt  bool
	txn      bool // the transactional attribute (bit 4)
	maxTSAdj int64
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func zz(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

func bytesField(b, v []byte) []byte {
	if v == nil {
		return zz(b, -1)
	}
	return append(zz(b, int64(len(v))), v...)
}

// batch encodes an uncompressed magic-2 record batch.
func batch(o batchOpt, recs ...rec) []byte {
	if o.pid == 0 {
		o.pid, o.epoch, o.seq = -1, -1, -1
	}
	var records []byte
	maxTS := o.firstTS
	for i, r := range recs {
		var body []byte
		body = append(body, 0)
		body = zz(body, r.ts)
		body = zz(body, int64(i))
		body = bytesField(body, r.key)
		body = bytesField(body, r.value)
		body = zz(body, int64(len(r.headers)))
		for _, h := range r.headers {
			body = bytesField(body, h[0])
			body = bytesField(body, h[1])
		}
		records = zz(records, int64(len(body)))
		records = append(records, body...)
		if o.firstTS+r.ts > maxTS {
			maxTS = o.firstTS + r.ts
		}
	}
	var tail []byte // attributes .. end (what the CRC covers)
	var attrs uint16
	if o.txn {
		attrs |= 0x10
	}
	tail = binary.BigEndian.AppendUint16(tail, attrs)
	tail = binary.BigEndian.AppendUint32(tail, uint32(len(recs)-1))
	tail = binary.BigEndian.AppendUint64(tail, uint64(o.firstTS))
	tail = binary.BigEndian.AppendUint64(tail, uint64(maxTS+o.maxTSAdj))
	tail = binary.BigEndian.AppendUint64(tail, uint64(o.pid))
	tail = binary.BigEndian.AppendUint16(tail, uint16(o.epoch))
	tail = binary.BigEndian.AppendUint32(tail, uint32(o.seq))
	tail = binary.BigEndian.AppendUint32(tail, uint32(len(recs)))
	tail = append(tail, records...)
	crc := crc32.Checksum(tail, castagnoli)
	if o.corrupt {
		crc ^= 0xdeadbeef
	}
	var b []byte
	b = binary.BigEndian.AppendUint64(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(4+1+4+len(tail)))
	b = binary.BigEndian.AppendUint32(b, 0xffffffff) // partition leader epoch: the broker sets it
	b = append(b, 2)
	b = binary.BigEndian.AppendUint32(b, crc)
	return append(b, tail...)
}

func vals(vs ...string) []rec {
	var out []rec
	for i, v := range vs {
		out = append(out, rec{key: []byte(fmt.Sprint("k", i)), value: []byte(v), ts: int64(i)})
	}
	return out
}

// describeBatches turns fetched RecordBatches bytes into what a client decodes from them.
func describeBatches(b []byte) any {
	var out []map[string]any
	for len(b) >= 61 {
		base := int64(binary.BigEndian.Uint64(b))
		n := int(binary.BigEndian.Uint32(b[8:]))
		if 12+n > len(b) {
			out = append(out, map[string]any{"partial_batch_bytes": len(b)})
			break
		}
		bb := b[:12+n]
		b = b[12+n:]
		attrs := binary.BigEndian.Uint16(bb[21:])
		sum := sha256.Sum256(bb[61:])
		m := map[string]any{
			"base_offset":            base,
			"partition_leader_epoch": int32(binary.BigEndian.Uint32(bb[12:])),
			"magic":                  bb[16],
			"crc_ok":                 crc32.Checksum(bb[21:], castagnoli) == binary.BigEndian.Uint32(bb[17:]),
			"attributes":             attrs & 0xffef, // without the timestamp-type bit's neighbours
			"transactional":          attrs&0x10 != 0,
			"control":                attrs&0x20 != 0,
			"last_offset_delta":      int32(binary.BigEndian.Uint32(bb[23:])),
			"first_timestamp":        int64(binary.BigEndian.Uint64(bb[27:])),
			"max_timestamp":          int64(binary.BigEndian.Uint64(bb[35:])),
			"producer_id":            pidPlaceholder(int64(binary.BigEndian.Uint64(bb[43:]))),
			"producer_epoch":         int16(binary.BigEndian.Uint16(bb[51:])),
			"base_sequence":          int32(binary.BigEndian.Uint32(bb[53:])),
			"records":                int32(binary.BigEndian.Uint32(bb[57:])),
			"records_sha256":         hex.EncodeToString(sum[:8]),
		}
		if attrs&0x20 != 0 { // a transaction marker: the broker stamps it with its own clock
			m["first_timestamp"], m["max_timestamp"] = "<broker-time>", "<broker-time>"
		}
		out = append(out, m)
	}
	if len(b) > 0 && len(b) < 61 {
		out = append(out, map[string]any{"partial_batch_bytes": len(b)})
	}
	return out
}

// ---- normalization --------------------------------------------------------------------------

var placeholders = map[string]map[string]string{}

func placeholder(kind, v string) string {
	m := placeholders[kind]
	if m == nil {
		m = map[string]string{}
		placeholders[kind] = m
	}
	if p, ok := m[v]; ok {
		return p
	}
	p := fmt.Sprintf("<%s#%d>", kind, len(m)+1)
	m[v] = p
	return p
}

func pidPlaceholder(p int64) any {
	if p < 0 {
		return p
	}
	return placeholder("producer-id", fmt.Sprint(p))
}

var dropKeys = map[string]bool{"ThrottleMillis": true, "UnknownTags": true, "ErrorMessage": true,
	"Version": true, "Message": true}

func normalize(key string, v any) any {
	switch key {
	case "ClusterID":
		if v != nil {
			return "<cluster-id>"
		}
	case "Host":
		return "<host>"
	case "Port":
		return "<port>"
	case "TopicID":
		if arr, ok := v.([]any); ok {
			zero := true
			for _, x := range arr {
				zero = zero && x.(float64) == 0
			}
			if zero {
				return "<zero-uuid>"
			}
			return placeholder("topic-id", fmt.Sprint(arr))
		}
	case "MemberID", "GroupInstanceID", "LeaderID", "ClientHost":
		if s, ok := v.(string); ok && s != "" && key != "LeaderID" {
			if key == "ClientHost" {
				return "<client-host>"
			}
			return placeholder("member-id", s)
		}
		if s, ok := v.(string); ok && s != "" {
			return placeholder("member-id", s)
		}
	case "ProducerID":
		if f, ok := v.(float64); ok {
			return pidPlaceholder(int64(f))
		}
	case "SessionID":
		if f, ok := v.(float64); ok && f != 0 {
			return placeholder("fetch-session", fmt.Sprint(f))
		}
	case "RecordBatches":
		if s, ok := v.(string); ok { // []byte marshals as base64
			b, _ := decodeB64(s)
			return describeBatches(b)
		}
	case "LogAppendTime", "StartTimestamp":
		if f, ok := v.(float64); ok && f > 0 {
			return "<broker-time>"
		}
	case "LastTimestamp":
		// A producer's last timestamp is its last batch's (t0-based, fixed) unless a
		// transaction marker came after: the broker stamps markers with its own clock.
		if f, ok := v.(float64); ok && f > float64(time.Now().Add(-10*time.Minute).UnixMilli()) {
			return "<broker-time>"
		}
	}
	switch t := v.(type) {
	case map[string]any:
		// Keys in order, so placeholders are numbered the same way on every run.
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := map[string]any{}
		for _, k := range keys {
			if dropKeys[k] {
				continue
			}
			out[k] = normalize(k, t[k])
		}
		return out
	case []any:
		// Lists a broker may answer in any order are sorted by their name before the
		// placeholders are given out.
		in := append([]any(nil), t...)
		if key == "Configs" || key == "Groups" || key == "Topics" || key == "Partitions" ||
			key == "TransactionStates" || key == "UnknownStateFilters" {
			sort.SliceStable(in, func(i, j int) bool { return sortKey(in[i]) < sortKey(in[j]) })
		}
		out := make([]any, len(in))
		for i, x := range in {
			out[i] = normalize(key, x)
		}
		return out
	}
	return v
}

func sortKey(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	switch x := v.(type) {
	case string: // a list of names (UnknownStateFilters)
		return x
	case float64: // a list of partition numbers (a transaction's partitions: a set)
		return fmt.Sprintf("%012.0f", x)
	}
	for _, k := range []string{"Name", "Group", "Topic", "Partition", "TransactionalID"} {
		if x, ok := m[k]; ok {
			if f, ok := x.(float64); ok {
				return fmt.Sprintf("%012.0f", f)
			}
			return fmt.Sprint(x)
		}
	}
	return ""
}

func decodeB64(s string) ([]byte, error) {
	var b []byte
	err := json.Unmarshal([]byte(`"`+s+`"`), &b)
	return b, err
}

// ---- running ----------------------------------------------------------------------------------

func runOne(sc scenario, addr, prefix string) (out []byte) {
	placeholders = map[string]map[string]string{}
	s := &S{addr: addr, prefix: prefix}
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(stop); !ok {
					s.note("scenario aborted", fmt.Sprint(r))
				}
			}
		}()
		sc.run(s)
	}()
	if s.abort != nil {
		s.note("scenario aborted", s.abort.Error())
	}
	for _, c := range s.conns {
		c.c.Close()
	}
	var steps []any
	for _, st := range s.steps {
		steps = append(steps, normalize("", toJSON(st)))
	}
	b, _ := json.MarshalIndent(map[string]any{"scenario": sc.name, "about": sc.doc, "steps": steps}, "", " ")
	return append(b, '\n')
}

func main() {
	addr := flag.String("b", "", "bootstrap host:port of the broker")
	outDir := flag.String("out", "", "write every scenario to DIR/NAME.json")
	list := flag.Bool("list", false, "list the scenarios")
	prefix := flag.String("prefix", "d-", "prefix of every topic and group name")
	match := flag.String("match", "", "only the scenarios whose name matches this regex")
	skip := flag.String("skip", "", "leave out the scenarios whose name matches this regex")
	flag.Parse()
	keep := func(name string) bool {
		return (*match == "" || regexp.MustCompile(*match).MatchString(name)) &&
			(*skip == "" || !regexp.MustCompile(*skip).MatchString(name))
	}
	sort.SliceStable(scenarios, func(i, j int) bool { return false })
	if *list {
		for _, sc := range scenarios {
			if keep(sc.name) {
				fmt.Printf("%-40s %s\n", sc.name, sc.doc)
			}
		}
		return
	}
	want := map[string]bool{}
	for _, a := range flag.Args() {
		want[a] = true
	}
	ran := 0
	for _, sc := range scenarios {
		if strings.HasPrefix(sc.name, "txn_") && keep(sc.name) && (len(want) == 0 || want[sc.name]) {
			warmTxn(*addr, *prefix)
			break
		}
	}
	for _, sc := range scenarios {
		if (len(want) > 0 && !want[sc.name]) || !keep(sc.name) {
			continue
		}
		ran++
		out := runOne(sc, *addr, *prefix+sc.name+"-")
		if *outDir != "" {
			os.WriteFile(filepath.Join(*outDir, sc.name+".json"), out, 0o644)
		} else {
			os.Stdout.Write(out)
		}
	}
	if ran == 0 {
		fmt.Fprintln(os.Stderr, "weirdiff: no such scenario")
		os.Exit(2)
	}
}
