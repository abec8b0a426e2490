package host

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"github.com/vramrun/vramrun/sdk"
)

// PluginRef names an external plugin from the profile's plugins: list.
type PluginRef struct {
	Name string
	// Path is the executable, absolute.
	Path string
	// SHA256 pins the executable's hash (hex); empty means unpinned.
	SHA256 string
}

// LoadOptions say which plugins to load.
type LoadOptions struct {
	// Env is vramrun's environment (XDG_DATA_HOME, HOME, VRAMRUN_PLUGIN_PATH);
	// external plugins run with it.
	Env map[string]string
	// Profile are the profile's plugins, in its order.
	Profile []PluginRef
	// LogTo receives the plugins' own log lines and go-plugin's; nil
	// discards them.
	LogTo io.Writer
	// Verbose lets debug lines through too (and what a plugin prints on
	// stderr that is not an hclog JSON line, which go-plugin logs at debug
	// level). Without it LogTo gets the plugins' own info, warning and error
	// lines, and go-plugin's. LogTo is expected to bound what it keeps
	// (record.PluginLog does).
	Verbose bool
	// Builtins are the built-in frameworks; nil means Builtins().
	Builtins []sdk.Framework
	// StartTimeout bounds an external plugin's start and handshake; zero
	// means DefaultStartTimeout.
	StartTimeout time.Duration
	// CallTimeout bounds each call to an external plugin; zero means
	// DefaultCallTimeout.
	CallTimeout time.Duration
}

// ChecksumError refuses a plugin whose executable does not have the hash the
// profile pins.
type ChecksumError struct {
	Name, Path string
	Want, Got  string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("plugin %s (%s) refused: its sha256 is %s but the profile pins %s", e.Name, e.Path, e.Got, e.Want)
}

// Load makes the set of one run: the built-ins, then the external plugins
// from the profile's plugins: list, VRAMRUN_PLUGIN_PATH and
// $XDG_DATA_HOME/vramrun/plugins, in that order of precedence for ties.
//
// An external plugin that cannot be read, fails to start, breaks the
// handshake, speaks another protocol version or describes itself wrongly
// is left out with one line in Set.Notes. A pinned plugin whose hash
// differs is an error (a *ChecksumError): vramrun then refuses to run at
// all, and starts no plugin.
func Load(ctx context.Context, o LoadOptions) (*Set, error) {
	builtins := o.Builtins
	if builtins == nil {
		builtins = Builtins()
	}
	set, err := NewSet(ctx, builtins)
	if err != nil {
		return nil, err
	}
	cands, notes := discover(o.Env, o.Profile)
	set.Notes = append(set.Notes, notes...)
	// Every executable is hashed, and every pin checked, before any plugin
	// starts: a refusal then leaves nothing to clean up.
	var ready []candidate
	for _, c := range cands {
		sum, err := fileSHA256(c.path)
		if err != nil {
			set.Notes = append(set.Notes, fmt.Sprintf("plugin %s dropped: %v", c.name, err))
			continue
		}
		c.sum = sum
		if c.pin != "" {
			if err := verifyPin(c); err != nil {
				return nil, err
			}
		}
		ready = append(ready, c)
	}

	so := startOptions{env: envList(o.Env), logTo: o.LogTo, level: hclog.Info,
		startTimeout: o.StartTimeout, callTimeout: o.CallTimeout}
	if so.logTo == nil {
		so.logTo = io.Discard
	}
	// Each plugin's logger locks only itself; the plugins share LogTo.
	so.logTo = &lockedWriter{w: so.logTo}
	if o.Verbose {
		so.level = hclog.Debug
	}
	if so.startTimeout <= 0 {
		so.startTimeout = DefaultStartTimeout
	}
	if so.callTimeout <= 0 {
		so.callTimeout = DefaultCallTimeout
	}
	// Plugins start side by side: one slow to start does not hold up the
	// others. They join the set in the order found.
	loaded := make([]*Plugin, len(ready))
	errs := make([]error, len(ready))
	var wg sync.WaitGroup
	for i, c := range ready {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loaded[i], errs[i] = loadOne(ctx, c, so)
		}()
	}
	wg.Wait()
	for i, c := range ready {
		if errs[i] != nil {
			set.Notes = append(set.Notes, fmt.Sprintf("plugin %s dropped: %v", c.name, errs[i]))
			continue
		}
		set.Add(loaded[i])
	}
	return set, nil
}

// loadOne starts one plugin and asks it to describe itself.
func loadOne(ctx context.Context, c candidate, o startOptions) (*Plugin, error) {
	s, err := start(ctx, c, o)
	if err != nil {
		return nil, err
	}
	desc, err := s.ext.Describe(ctx, sdk.DescribeRequest{})
	if err != nil {
		s.stop()
		return nil, err
	}
	return &Plugin{Framework: s.ext, Desc: desc, Source: SourcePath, Path: c.path, SHA256: c.sum,
		Protocol: s.protocol, close: s.stop}, nil
}

// verifyPin checks the executable against the profile's sha256 with
// go-plugin's SecureConfig. (go-plugin would check it at start only when it
// runs the command itself, which would hand the plugin the user's stdin;
// see process.)
func verifyPin(c candidate) error {
	want, err := hex.DecodeString(c.pin)
	if err != nil || len(want) != sha256.Size {
		return fmt.Errorf("plugin %s: sha256 %q is not %d hexadecimal digits", c.name, c.pin, 2*sha256.Size)
	}
	secure := &plugin.SecureConfig{Checksum: want, Hash: sha256.New()}
	ok, err := secure.Check(c.path)
	if err != nil {
		return fmt.Errorf("plugin %s: verify sha256 of %s: %v", c.name, c.path, err)
	}
	if !ok {
		return &ChecksumError{Name: c.name, Path: c.path, Want: c.pin, Got: c.sum}
	}
	return nil
}

// fileSHA256 is the hex sha256 of a file's contents.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %v", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// lockedWriter serialises the writes of several loggers to one writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
