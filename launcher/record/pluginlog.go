package record

import (
	"bytes"
	"os"
	"sync"
)

// PluginLog takes external plugins' own log lines (and what they print on
// stderr) away from the user's terminal into the run's folder. Plugins start
// before the run has a folder, so the first lines are kept in memory
// (bounded) until Open names the file.
type PluginLog struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	f      *os.File
	closed bool
}

// pluginLogBuffer bounds what is kept before the run's folder exists.
const pluginLogBuffer = 1 << 20

// Write never fails towards the plugin client.
func (l *PluginLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.f != nil:
		_, _ = l.f.Write(p)
	case !l.closed && l.buf.Len()+len(p) <= pluginLogBuffer:
		l.buf.Write(p)
	}
	return len(p), nil
}

// Open sends what was kept, and all later lines, to path.
func (l *PluginLog) Open(path string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(l.buf.Bytes()); err != nil {
		f.Close()
		return err
	}
	l.buf.Reset()
	l.f = f
	return nil
}

// Close closes the file; later lines are dropped.
func (l *PluginLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.buf.Reset()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
