package supervise

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// gate is a writer that holds every Write until it is opened, then keeps
// what it was given.
type gate struct {
	open chan struct{}
	mu   sync.Mutex
	got  bytes.Buffer
}

func (g *gate) Write(p []byte) (int, error) {
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.got.Write(p)
}

// TestBehindNeverMakesTheCopyWait: while the scanner is stuck, writes
// within the limit return at once (were one to wait, the test would hang), and
// once it goes on it gets every byte, in order.
func TestBehindNeverMakesTheCopyWait(t *testing.T) {
	g := &gate{open: make(chan struct{})}
	b := newBehind(1 << 20)
	w := b.writer(g)
	var want bytes.Buffer
	// Half the limit: the buffers holding the lines count against it, and
	// may be up to twice what is in them.
	for i := 0; ; i++ {
		line := fmt.Appendf(nil, "line %d of a job that prints while the scanner is stuck\n", i)
		if want.Len()+len(line) > 1<<19 {
			break
		}
		want.Write(line)
		if n, err := w.Write(line); n != len(line) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	close(g.open)
	b.Close()
	if !bytes.Equal(g.got.Bytes(), want.Bytes()) {
		t.Fatalf("scanner got %d bytes, want the %d written, in order", g.got.Len(), want.Len())
	}
}

// TestBehindKeepsEveryByteWhenFarBehind: a job that prints many times the
// limit from two goroutines, as stdout and stderr do into one pty, loses
// nothing: every write arrives whole and in each writer's order.
func TestBehindKeepsEveryByteWhenFarBehind(t *testing.T) {
	var got bytes.Buffer
	b := newBehind(behindChunk) // the smallest limit: the copy waits often
	into := b.writer(&got)
	const writers, lines = 2, 20000
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range lines {
				_, _ = into.Write(fmt.Appendf(nil, "w%d %06d %s\n", w, i, bytes.Repeat([]byte("x"), i%97)))
			}
		}()
	}
	wg.Wait()
	b.Close()
	next := [writers]int{}
	for _, line := range bytes.Split(bytes.TrimSuffix(got.Bytes(), []byte("\n")), []byte("\n")) {
		var w, i int
		var pad string
		if _, err := fmt.Sscanf(string(line), "w%d %d %s", &w, &i, &pad); err != nil && i%97 != 0 {
			t.Fatalf("torn line %q: %v", line, err)
		}
		if w < 0 || w >= writers || i != next[w] || len(pad) != i%97 {
			t.Fatalf("line %q out of order or cut (want w%d line %d next)", line, w, next[w])
		}
		next[w]++
	}
	for w, n := range next {
		if n != lines {
			t.Errorf("writer %d: %d lines arrived, want %d", w, n, lines)
		}
	}
}

// TestBehindKeepsTheOrderAcrossWriters: two writers fed through one queue
// get their bytes in the order the writes came, so a log shared by stdout
// and stderr reads as they were copied.
func TestBehindKeepsTheOrderAcrossWriters(t *testing.T) {
	// Each writer notes every item it gets (writes to one writer may come
	// merged) with its own tag, on one shared list.
	var got []string
	var mu sync.Mutex
	tagged := func(tag string) io.Writer {
		return writerFunc(func(p []byte) (int, error) {
			mu.Lock()
			defer mu.Unlock()
			for _, item := range strings.Split(strings.TrimSuffix(string(p), ","), ",") {
				got = append(got, tag+item)
			}
			return len(p), nil
		})
	}
	b := newBehind(behindChunk)
	out, errs := b.writer(tagged("out")), b.writer(tagged("err"))
	var want []string
	for i := range 1000 {
		w, tag := out, "out"
		if i%3 == 0 || i%7 == 0 {
			w, tag = errs, "err"
		}
		_, _ = w.Write(fmt.Appendf(nil, "%d,", i))
		want = append(want, fmt.Sprintf("%s%d", tag, i))
	}
	b.Close()
	if !slices.Equal(got, want) {
		t.Fatalf("writers got\n%v\nwant\n%v", got, want)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// TestBehindCountsTheBuffersItHolds: two streams taking turns with short
// lines while the log is stuck make a chunk per line; the memory they hold
// is what counts against the limit, not the few bytes in each.
func TestBehindCountsTheBuffersItHolds(t *testing.T) {
	g := &gate{open: make(chan struct{})}
	b := newBehind(1 << 20)
	out, errs := b.writer(g), b.writer(g)
	turns := (1 << 20) / smallestBuffer // the most that fit without waiting
	for i := range turns {
		w := out
		if i%2 == 1 {
			w = errs
		}
		_, _ = w.Write([]byte("a line\n"))
	}
	b.mu.Lock()
	held, chunks := b.held, len(b.queue)
	b.mu.Unlock()
	// The drain may hold the first chunk already, stuck in its Write.
	if (chunks != turns && chunks != turns-1) || held != turns*smallestBuffer {
		t.Errorf("%d writes taking turns: %d chunks queued, %d bytes held, want %d chunks of %d", turns, chunks, held, turns, smallestBuffer)
	}
	var memory int
	b.mu.Lock()
	for _, c := range b.queue {
		memory += cap(c.data)
	}
	b.mu.Unlock()
	if memory > b.limit {
		t.Errorf("queue holds %d bytes of buffers, over the limit %d", memory, b.limit)
	}
	close(g.open)
	b.Close()
	if got := g.got.Len(); got != turns*len("a line\n") {
		t.Errorf("writers got %d bytes, want %d", got, turns*len("a line\n"))
	}
}

// TestStreamWriterTakesReadBuffers: a copy that hands its read buffers to
// the queue (WriteBuffer) between plain writes gets every byte to the
// terminal at once and to the slow writers in order, reads on into buffers
// the queue has written (two go round for a chatty stream), and the queue
// holds no more than its limit.
func TestStreamWriterTakesReadBuffers(t *testing.T) {
	var term, log bytes.Buffer
	b := newBehind(1 << 20)
	slow := writerFunc(func(p []byte) (int, error) {
		b.mu.Lock()
		held := b.held
		b.mu.Unlock()
		if held > b.limit {
			t.Errorf("queue holds %d bytes, over its limit %d", held, b.limit)
		}
		return log.Write(p)
	})
	w := &streamWriter{clock: newClock(time.Now), to: &term, queue: b.writer(slow)}
	var want bytes.Buffer
	seen := map[*byte]bool{}
	buf := w.Buffer(1 << 20)
	for i := range 40 {
		if i%5 == 4 {
			line := fmt.Appendf(nil, "a short write %d\n", i)
			want.Write(line)
			_, _ = w.Write(line)
			continue
		}
		p := buf[:256<<10+i]
		for j := range p {
			p[j] = byte(i + j)
		}
		want.Write(p)
		seen[&buf[0]] = true
		if err := w.WriteBuffer(p); err != nil {
			t.Fatal(err)
		}
		buf = w.Buffer(1 << 20)
		if len(buf) != 1<<20 {
			t.Fatalf("Buffer gave %d bytes, want %d", len(buf), 1<<20)
		}
	}
	b.Close()
	if !bytes.Equal(term.Bytes(), want.Bytes()) {
		t.Errorf("terminal got %d bytes, want the %d written, in order", term.Len(), want.Len())
	}
	if !bytes.Equal(log.Bytes(), want.Bytes()) {
		t.Errorf("log got %d bytes, want the %d written, in order", log.Len(), want.Len())
	}
	if len(seen) > maxLent+1 {
		t.Errorf("the copy read into %d buffers, want those written reused (at most %d)", len(seen), maxLent+1)
	}
}

// counter is a writer that counts its Writes and says on first when it
// got its first.
type counter struct {
	mu     sync.Mutex
	writes int
	got    bytes.Buffer
	first  chan struct{}
}

func newCounter() *counter { return &counter{first: make(chan struct{})} }

func (c *counter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writes == 0 {
		close(c.first)
	}
	c.writes++
	return c.got.Write(p)
}

func (c *counter) counts() (writes, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writes, c.got.Len()
}

// TestBehindGathersSmallWrites: small writes (a pty's 4 KiB reads, a job's
// lines) do not wake the drain one by one: while they are fewer than
// wakeAt bytes and the lag has not passed (an hour here), the writer gets
// nothing, and then all of them in a write per buffer.
func TestBehindGathersSmallWrites(t *testing.T) {
	c := newCounter()
	b := newBehindLag(1<<20, time.Hour)
	w := b.writer(c)
	var want bytes.Buffer
	for i := 0; want.Len() < 100<<10; i++ {
		line := fmt.Appendf(nil, "step %d loss 0.%04d\n", i, i)
		want.Write(line)
		_, _ = w.Write(line)
	}
	if writes, _ := c.counts(); writes != 0 {
		t.Errorf("the writer had %d writes before the queue was due, want none", writes)
	}
	b.Close()
	writes, n := c.counts()
	if n != want.Len() || !bytes.Equal(c.got.Bytes(), want.Bytes()) {
		t.Fatalf("the writer got %d bytes, want the %d written, in order", n, want.Len())
	}
	// 4 KiB, 8 KiB, ... 64 KiB buffers hold 124 KiB: five.
	if writes > 5 {
		t.Errorf("%d bytes in small writes reached the writer in %d writes, want at most 5", n, writes)
	}
}

// TestBehindWakesAtWakeAt: once wakeAt bytes are queued, the writer gets
// them without waiting for the lag (an hour) or Close.
func TestBehindWakesAtWakeAt(t *testing.T) {
	c := newCounter()
	b := newBehindLag(1<<20, time.Hour)
	w := b.writer(c)
	line := bytes.Repeat([]byte("x"), 1000)
	line[len(line)-1] = '\n'
	for written := 0; written < wakeAt; written += len(line) {
		_, _ = w.Write(line)
	}
	<-c.first // were the drain not woken, the test would hang here
	b.Close()
}

// TestBehindWritesAfterTheLag: a lone line reaches the writer after the
// lag, without more output or Close.
func TestBehindWritesAfterTheLag(t *testing.T) {
	c := newCounter()
	b := newBehindLag(1<<20, time.Millisecond)
	_, _ = b.writer(c).Write([]byte("CUDA out of memory\n"))
	<-c.first // were the timer not armed, the test would hang here
	if _, n := c.counts(); n != len("CUDA out of memory\n") {
		t.Errorf("the writer got %d bytes, want the line", n)
	}
	// Later lines arm the timer again.
	_, _ = b.writer(c).Write([]byte("next\n"))
	b.Close()
	if _, n := c.counts(); n != len("CUDA out of memory\nnext\n") {
		t.Errorf("the writer got %d bytes, want both lines", n)
	}
}

// TestBehindWakesTheDrainToMakeRoom: a copy that finds the queue full of
// small writes, fewer than wakeAt bytes but buffers up to the limit (two
// streams taking turns), wakes the drain itself rather than waiting for
// the lag (an hour).
func TestBehindWakesTheDrainToMakeRoom(t *testing.T) {
	c := newCounter()
	b := newBehindLag(behindChunk, time.Hour)
	out, errs := b.writer(c), b.writer(c)
	turns := 4 * behindChunk / smallestBuffer // four limits' worth of buffers
	for i := range turns {
		w := out
		if i%2 == 1 {
			w = errs
		}
		_, _ = w.Write([]byte("a line\n")) // would hang, were the drain left asleep
	}
	b.Close()
	if _, n := c.counts(); n != turns*len("a line\n") {
		t.Errorf("the writers got %d bytes, want %d", n, turns*len("a line\n"))
	}
}
