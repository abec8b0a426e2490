package runner

import (
	"bytes"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// readerPipe is a pipe whose read end a streamReader reads, as the
// copiers' are set up, and the waiter it reads through.
func readerPipe(t *testing.T) (*streamReader, *os.File, *waiter) {
	t.Helper()
	r, w, err := bigPipe()
	if err != nil {
		t.Fatal(err)
	}
	o, err := newOutputCopiers(copier{src: r})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = w.Close()
		o.close()
	})
	return &streamReader{w: o.wait, src: r}, w, o.wait
}

// TestStreamReaderTakesAllThatIsThere: what several writes left in the
// stream comes back in one read, so it is passed on in one write.
func TestStreamReaderTakesAllThatIsThere(t *testing.T) {
	r, w, _ := readerPipe(t)
	var want []byte
	for i := range 3 {
		chunk := bytes.Repeat([]byte{'a' + byte(i)}, 4096)
		want = append(want, chunk...)
		if _, err := w.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 64<<10)
	n, err := r.Read(buf)
	if err != nil || !bytes.Equal(buf[:n], want) {
		t.Fatalf("Read = %d bytes, %v; want the %d written, in one read", n, err, len(want))
	}
}

// TestStreamReaderDoesNotWaitForMore: a read returns what came as soon as
// it came, while the writer stays open and the buffer has room (a line of
// a job that then thinks for a minute reaches the terminal at once).
func TestStreamReaderDoesNotWaitForMore(t *testing.T) {
	r, w, _ := readerPipe(t)
	got := make(chan []byte)
	go func() {
		buf := make([]byte, 64<<10)
		n, _ := r.Read(buf) // waits in poll: nothing was written yet
		got <- buf[:n]
	}()
	if _, err := w.Write([]byte("epoch 1\n")); err != nil {
		t.Fatal(err)
	}
	if line := <-got; string(line) != "epoch 1\n" { // were it to wait for more, the test would hang
		t.Fatalf("Read gave %q, want the line", line)
	}
	if _, err := w.Write([]byte("epoch 2\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64<<10)
	if n, err := r.Read(buf); err != nil || string(buf[:n]) != "epoch 2\n" {
		t.Fatalf("second Read = %q, %v; want the next line", buf[:n], err)
	}
}

// TestStreamReaderEnds: the writer's close is io.EOF, after every byte.
func TestStreamReaderEnds(t *testing.T) {
	r, w, _ := readerPipe(t)
	if _, err := w.Write([]byte("last words\n")); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	got, err := io.ReadAll(r)
	if err != nil || string(got) != "last words\n" {
		t.Fatalf("ReadAll = %q, %v; want the last line, then EOF", got, err)
	}
}

// TestStreamReaderStops: stop ends a read waiting for output that does
// not come (a worker vramrun could not find holds the pipe), and a read of
// a stream that never runs dry, too.
func TestStreamReaderStops(t *testing.T) {
	r, w, wait := readerPipe(t)
	done := make(chan error)
	go func() {
		_, err := r.Read(make([]byte, 4096))
		done <- err
	}()
	wait.stop()
	if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) { // a read stop did not end would hang
		t.Fatalf("a waiting read ended with %v, want os.ErrDeadlineExceeded", err)
	}
	if _, err := w.Write([]byte("more\n")); err != nil {
		t.Fatal(err)
	}
	if n, err := r.Read(make([]byte, 4096)); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a read after stop = %d, %v; want 0, os.ErrDeadlineExceeded", n, err)
	}
}

// writerPipe is a pipe both of whose ends are as writeAll and
// streamReader want them (see unpolled), with the default 64 KiB room.
func writerPipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	r, err := unpolled(p[0], "|0")
	if err != nil {
		t.Fatal(err)
	}
	w, err = unpolled(p[1], "|1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = r.Close()
		_ = w.Close()
	})
	return r, w
}

// TestWriteAllWaitsForRoom: a write larger than the pipe (typed input
// pasted into a job that reads slowly) goes in whole as the reader makes
// room.
func TestWriteAllWaitsForRoom(t *testing.T) {
	r, w := writerPipe(t)
	want := bigData(1 << 20)
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(&streamReader{w: newTestWaiter(t), src: r})
		got <- b
	}()
	if err := writeAll(w, want, -1, time.Time{}); err != nil {
		t.Fatal(err)
	}
	_ = w.Close()
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("the reader got %d bytes, want the %d written", len(b), len(want))
	}
}

// TestWriteAllGivesUp: a write that finds no room ends at its deadline
// (the end marker into a pty whose output the job stopped), or when its
// wake-up file is readable (the input copier's stop).
func TestWriteAllGivesUp(t *testing.T) {
	_, w := writerPipe(t)
	if err := withFd(w, func(fd int) error { // fill the pipe
		for {
			if _, err := unix.Write(fd, make([]byte, 4096)); err != nil {
				return err
			}
		}
	}); err != unix.EAGAIN {
		t.Fatalf("filling the pipe: %v, want EAGAIN at its end", err)
	}
	if err := writeAll(w, []byte("marker"), -1, time.Now().Add(-time.Second)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("past its deadline: %v, want os.ErrDeadlineExceeded", err)
	}
	var wake [2]int
	if err := unix.Pipe2(wake[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.Close(wake[0]); _ = unix.Close(wake[1]) }()
	if _, err := unix.Write(wake[1], []byte{0}); err != nil {
		t.Fatal(err)
	}
	if err := writeAll(w, []byte("typed"), wake[0], time.Time{}); !errors.Is(err, errWoken) {
		t.Errorf("woken: %v, want errWoken", err)
	}
}

func newTestWaiter(t *testing.T) *waiter {
	t.Helper()
	w, err := newWaiter()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.close)
	return w
}
