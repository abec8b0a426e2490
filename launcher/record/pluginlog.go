package record

import (
	"bytes"
	"fmt"
	"sync"
)

// PluginLog takes external plugins' own log lines (and what they print on
// stderr) away from the user's terminal into the run's folder. Plugins start
// before the run has a folder, so the first lines are kept in memory
// (bounded) until Open names the file. The file is capped as an attempt's
// log is: its first PluginLogHead bytes, a line saying how much was cut,
// and its last PluginLogTail bytes, so that a plugin that logs without end
// cannot fill the disk.
type PluginLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
	// dropped counts what did not fit in buf before Open.
	dropped int64
	log     *CappedLog
	closed  bool
}

// Caps of plugins.log. pluginLogBuffer bounds what is kept before the run's
// folder exists.
const (
	PluginLogHead   = 2 << 20
	PluginLogTail   = 1 << 20
	pluginLogBuffer = 1 << 20
)

// Write never fails towards the plugin client.
func (l *PluginLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.log != nil:
		_, _ = l.log.Write(p)
	case l.closed:
	case l.buf.Len()+len(p) <= pluginLogBuffer:
		l.buf.Write(p)
	default:
		l.dropped += int64(len(p))
	}
	return len(p), nil
}

// Open sends what was kept, and all later lines, to path.
func (l *PluginLog) Open(path string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	log, err := NewCappedLog(path, PluginLogHead, PluginLogTail)
	if err != nil {
		return err
	}
	_, _ = log.Write(l.buf.Bytes())
	if l.dropped > 0 {
		fmt.Fprintf(log, "[vramrun: %d bytes of the plugins' lines cut here, before the run's folder existed]\n", l.dropped)
	}
	l.buf.Reset()
	l.log = log
	return nil
}

// Close writes the end of the log and closes the file; later lines are
// dropped.
func (l *PluginLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.buf.Reset()
	if l.log == nil {
		return nil
	}
	err := l.log.Close()
	l.log = nil
	return err
}
