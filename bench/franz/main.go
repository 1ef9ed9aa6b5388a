// franz-bench: the franz-go (kgo) peer of kafka-bench.
//
// The bench's parent process runs this once per client run, in place of
// its own `__child`, with the scenario spelled out as flags (the Go side
// knows no scenario names). It prints the same `result k=v ...` line the
// Rust children print; the parent adds CPU time and peak RSS from wait4.
//
// Settings follow the other clients of the bench: linger 5 ms, batches of
// up to 1,000,000 bytes, the scenario's acks and codec (zstd at level 3,
// lz4 at its fast level), idempotence off unless the run is transactional,
// at most 100,000 records unacknowledged, and for consumers 50 MiB per
// fetch, 1 MiB per partition, 500 ms fetch wait.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// window is the most records left unacknowledged (the Rust side's WINDOW).
const window = 100_000

type job struct {
	mode        string
	bootstrap   string
	topic       string
	records     uint64
	valueSize   int
	partitions  int
	keys        uint64
	acks        string
	compression string
	txn         uint64
	group       bool
	deadline    time.Time
}

type measured struct {
	records   uint64
	bytes     uint64
	secs      float64
	latencies []float64
	firstUs   float64
}

func (m *measured) line() string {
	sort.Float64s(m.latencies)
	pct := func(p float64) float64 {
		if len(m.latencies) == 0 {
			return -1
		}
		i := int(float64(len(m.latencies)-1)*p + 0.5)
		return m.latencies[i]
	}
	return fmt.Sprintf("result records=%d bytes=%d secs=%.6f p50_us=%.2f p99_us=%.2f first_us=%.0f",
		m.records, m.bytes, m.secs, pct(0.50), pct(0.99), m.firstUs)
}

func main() {
	var j job
	flag.StringVar(&j.mode, "mode", "", "produce, consume, roundtrip or metadata")
	flag.StringVar(&j.bootstrap, "bootstrap", "", "host:port")
	flag.StringVar(&j.topic, "topic", "", "topic")
	flag.Uint64Var(&j.records, "records", 0, "records (requests for metadata)")
	flag.IntVar(&j.valueSize, "value-size", 100, "value bytes")
	flag.IntVar(&j.partitions, "partitions", 1, "partitions of the topic")
	flag.Uint64Var(&j.keys, "keys", 0, "records keyed key-0 .. key-(keys-1) in turn, 0 for none")
	flag.StringVar(&j.acks, "acks", "1", "0, 1 or all")
	flag.StringVar(&j.compression, "compression", "none", "none, lz4 or zstd")
	flag.Uint64Var(&j.txn, "txn", 0, "records per transaction, 0 for none")
	flag.BoolVar(&j.group, "group", false, "consume as a member of a fresh group")
	limit := flag.Duration("limit", 240*time.Second, "longest run")
	flag.Parse()
	j.deadline = time.Now().Add(*limit)

	var m *measured
	var err error
	switch j.mode {
	case "produce":
		if j.txn > 0 {
			m, err = produceTxn(&j)
		} else {
			m, err = produce(&j)
		}
	case "consume":
		m, err = consume(&j)
	case "roundtrip":
		m, err = roundTrip(&j)
	case "metadata":
		m, err = metadata(&j)
	default:
		err = fmt.Errorf("unknown mode %q", j.mode)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "franz-bench: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(m.line())
}

// values returns the bench's value pool: the same xorshift sequence over
// the same 16 letters as scenario::values on the Rust side.
// makeKeys returns key-0 .. key-(n-1), the keys of a keyed scenario.
func makeKeys(n uint64) [][]byte {
	out := make([][]byte, n)
	for k := range out {
		out[k] = []byte(fmt.Sprintf("key-%d", k))
	}
	return out
}

// keyOf is record i's key, nil when the scenario has none.
func keyOf(keys [][]byte, i uint64) []byte {
	if len(keys) == 0 {
		return nil
	}
	return keys[i%uint64(len(keys))]
}

func values(size int) [][]byte {
	state := uint64(0x9E3779B97F4A7C15)
	next := func() uint64 {
		state ^= state << 13
		state ^= state >> 7
		state ^= state << 17
		return state
	}
	s := size
	if s < 1 {
		s = 1
	}
	count := (8 << 20) / s
	count = min(max(count, 16), 1024)
	const letters = "abcdefghijklmnop"
	out := make([][]byte, count)
	for i := range out {
		v := make([]byte, size)
		for k := range v {
			v[k] = letters[next()%16]
		}
		out[i] = v
	}
	return out
}

func (j *job) checkTime(done uint64) error {
	if time.Now().After(j.deadline) {
		return fmt.Errorf("out of time after %d of %d", done, j.records)
	}
	return nil
}

func (j *job) ctx() (context.Context, context.CancelFunc) {
	return context.WithDeadline(context.Background(), j.deadline)
}

// base is every client's start: the seed brokers (a comma-separated list), ApiVersions at most v4,
// and with FRANZ_BENCH_DEBUG set, kgo's debug log on stderr.
//
// ApiVersions v5 (KIP-1242) names the cluster and node a connection
// expects, as tagged fields kgo sends to every broker but the seeds; Tansu
// 0.6 closes such a connection without answering, so every connection
// after the seed's failed. v4 is the same request without them.
func base(j *job) []kgo.Opt {
	versions := kversion.Stable()
	versions.SetMaxKeyVersion(18, 4) // 18: ApiVersions
	opts := []kgo.Opt{kgo.SeedBrokers(strings.Split(j.bootstrap, ",")...), kgo.MaxVersions(versions)}
	if os.Getenv("FRANZ_BENCH_DEBUG") != "" {
		opts = append(opts, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelDebug, nil)))
	}
	return opts
}

func producerOpts(j *job) ([]kgo.Opt, error) {
	opts := append(base(j),
		kgo.DefaultProduceTopic(j.topic),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(1_000_000),
		kgo.MaxBufferedRecords(window),
	)
	switch j.acks {
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case "all":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	default:
		return nil, fmt.Errorf("unknown acks %q", j.acks)
	}
	switch j.compression {
	case "none":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.NoCompression()))
	case "lz4":
		// Level 0: the fast compressor, as the other clients.
		opts = append(opts, kgo.ProducerBatchCompression(kgo.Lz4Compression().WithLevel(0)))
	case "zstd":
		// kgo takes klauspost's encoder levels; this is zstd's level 3.
		lvl := int(zstd.EncoderLevelFromZstd(3))
		opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression().WithLevel(lvl)))
	default:
		return nil, fmt.Errorf("unknown compression %q", j.compression)
	}
	if j.txn > 0 {
		// Transactions need idempotence (the scenario asks acks=all).
		id := fmt.Sprintf("bench-%s-%d", j.topic, os.Getpid())
		opts = append(opts, kgo.TransactionalID(id))
	} else {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	return opts, nil
}

// acker counts the produce promises; every record must succeed.
type acker struct {
	ok     atomic.Uint64
	failed atomic.Uint64
	first  atomic.Pointer[error]
}

func (a *acker) promise(_ *kgo.Record, err error) {
	if err != nil {
		a.first.CompareAndSwap(nil, &err)
		a.failed.Add(1)
		return
	}
	a.ok.Add(1)
}

func (a *acker) check(expected uint64) error {
	if n := a.failed.Load(); n > 0 {
		return fmt.Errorf("%d records failed, first: %v", n, *a.first.Load())
	}
	if n := a.ok.Load(); n != expected {
		return fmt.Errorf("%d acks for %d records", n, expected)
	}
	return nil
}

func produce(j *job) (*measured, error) {
	opts, err := producerOpts(j)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := j.ctx()
	defer cancel()
	vals := values(j.valueSize)
	keys := makeKeys(j.keys)
	var a acker
	start := time.Now()
	for i := uint64(0); i < j.records; i++ {
		// Produce blocks while MaxBufferedRecords are in flight: the window.
		cl.Produce(ctx, &kgo.Record{Key: keyOf(keys, i), Value: vals[i%uint64(len(vals))]}, a.promise)
		if i%4096 == 0 {
			if err := j.checkTime(i); err != nil {
				return nil, err
			}
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return nil, err
	}
	secs := time.Since(start).Seconds()
	if err := a.check(j.records); err != nil {
		return nil, err
	}
	lingerAfterAcks0(j)
	return &measured{records: j.records, bytes: j.records * uint64(j.valueSize), secs: secs}, nil
}

// lingerAfterAcks0 keeps the connection open a moment after an acks=0 run
// (outside the timed part): kgo counts such a record done once written,
// and closing the socket at once made Tansu drop the requests it had not
// yet read (the read-back check found records missing).
func lingerAfterAcks0(j *job) {
	if j.acks == "0" {
		time.Sleep(500 * time.Millisecond)
	}
}

// produceTxn sends transactions of j.txn records: begin, produce them,
// flush (every ack), commit. Getting the producer id is set-up, left out
// of the time, as init_transactions is for the other clients.
func produceTxn(j *job) (*measured, error) {
	opts, err := producerOpts(j)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := j.ctx()
	defer cancel()
	if _, _, err := cl.ProducerID(ctx); err != nil {
		return nil, fmt.Errorf("producer id: %w", err)
	}
	vals := values(j.valueSize)
	var a acker
	start := time.Now()
	for sent := uint64(0); sent < j.records; {
		if err := cl.BeginTransaction(); err != nil {
			return nil, fmt.Errorf("begin: %w", err)
		}
		end := min(sent+j.txn, j.records)
		for i := sent; i < end; i++ {
			cl.Produce(ctx, &kgo.Record{Value: vals[i%uint64(len(vals))]}, a.promise)
		}
		// kgo's EndTransaction does not flush: Flush first, as documented.
		if err := cl.Flush(ctx); err != nil {
			return nil, fmt.Errorf("flush: %w", err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			return nil, fmt.Errorf("commit: %w", err)
		}
		sent = end
		if err := j.checkTime(sent); err != nil {
			return nil, err
		}
	}
	secs := time.Since(start).Seconds()
	if err := a.check(j.records); err != nil {
		return nil, err
	}
	return &measured{records: j.records, bytes: j.records * uint64(j.valueSize), secs: secs}, nil
}

// consume reads the preloaded topic from the start. As on the Rust side,
// the rate counts the records after the first tenth, and the time from
// the start (here: creating the client, which starts consuming) to the
// first record is reported apart.
func consume(j *job) (*measured, error) {
	opts := append(base(j),
		kgo.FetchMaxBytes(50<<20),
		kgo.FetchMaxPartitionBytes(1<<20),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	if j.group {
		g := fmt.Sprintf("bench-%s-%d", j.topic, os.Getpid())
		opts = append(opts,
			kgo.ConsumerGroup(g),
			kgo.ConsumeTopics(j.topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	} else {
		ps := make(map[int32]kgo.Offset, j.partitions)
		for p := 0; p < j.partitions; p++ {
			ps[int32(p)] = kgo.NewOffset().AtStart()
		}
		opts = append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{j.topic: ps}))
	}
	ctx, cancel := j.ctx()
	defer cancel()
	warm := j.records / 10
	start := time.Now()
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var got, nbytes uint64
	var first, steady time.Time
	for got < j.records {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return nil, fmt.Errorf("poll after %d records: %w", got, err)
		}
		for _, e := range fs.Errors() {
			return nil, fmt.Errorf("fetch %s/%d: %w", e.Topic, e.Partition, e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			// The clock only for the two records that need it, as the
			// other harnesses do.
			if first.IsZero() {
				first = time.Now()
			}
			if got == warm {
				steady = time.Now()
			}
			got++
			nbytes += uint64(len(r.Value))
		})
		if err := j.checkTime(got); err != nil {
			return nil, err
		}
	}
	if first.IsZero() {
		first = start
	}
	if steady.IsZero() {
		steady = first
	}
	counted := got - min(warm, got)
	return &measured{
		records: counted,
		bytes:   nbytes * counted / max(got, 1),
		secs:    max(time.Since(steady).Seconds(), 1e-6),
		firstUs: float64(first.Sub(start).Microseconds()),
	}, nil
}

// timedLoop runs one() for every request of a round-trip or metadata run
// after a warm-up of a twentieth (at least 10), timing each.
func timedLoop(j *job, one func() error) (*measured, error) {
	for i := uint64(0); i < max(j.records/20, 10); i++ {
		if err := one(); err != nil {
			return nil, err
		}
	}
	m := &measured{records: j.records, bytes: j.records * uint64(j.valueSize)}
	m.latencies = make([]float64, 0, j.records)
	start := time.Now()
	for i := uint64(0); i < j.records; i++ {
		t := time.Now()
		if err := one(); err != nil {
			return nil, err
		}
		m.latencies = append(m.latencies, float64(time.Since(t).Nanoseconds())/1e3)
		if i%256 == 0 {
			if err := j.checkTime(i); err != nil {
				return nil, err
			}
		}
	}
	m.secs = time.Since(start).Seconds()
	return m, nil
}

// roundTrip: one record (acks=1, linger 0), wait for its ack, repeat.
func roundTrip(j *job) (*measured, error) {
	cl, err := kgo.NewClient(append(base(j),
		kgo.DefaultProduceTopic(j.topic),
		kgo.ProducerLinger(0),
		kgo.RequiredAcks(kgo.LeaderAck()),
		kgo.DisableIdempotentWrite(),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
	)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := j.ctx()
	defer cancel()
	value := values(j.valueSize)[0]
	return timedLoop(j, func() error {
		return cl.ProduceSync(ctx, &kgo.Record{Value: value}).FirstErr()
	})
}

// metadata: a Metadata request for the one topic, sent (not served from
// the client's cache) and answered, one after the other.
func metadata(j *job) (*measured, error) {
	cl, err := kgo.NewClient(base(j)...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := j.ctx()
	defer cancel()
	return timedLoop(j, func() error {
		req := kmsg.NewPtrMetadataRequest()
		t := kmsg.NewMetadataRequestTopic()
		t.Topic = kmsg.StringPtr(j.topic)
		req.Topics = append(req.Topics, t)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		if len(resp.Topics) != 1 || resp.Topics[0].ErrorCode != 0 {
			return fmt.Errorf("metadata for %s: unexpected answer", j.topic)
		}
		return nil
	})
}
