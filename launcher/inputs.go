package launcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/vramrun/vramrun/sdk"
)

// maxInput bounds what of a piped config is kept in memory for learned
// state; the job's copy always has all of it.
const maxInput = 4 << 20

// pipedConfigs reads, once each, the config files the claiming plugin
// names that are pipes (bash's -c <(cat cfg.yaml), /dev/fd/63, a FIFO)
// rather than files, into a copy the job is then pointed at: the plugin
// can read the config, and the job still gets all of it. The copy is
// created before the pipe is read, so that what vramrun takes from a pipe
// always reaches the job. Files the plugin does not name as configs are
// never touched: their contents are the job's. It reports whether the
// command changed.
func (l *loop) pipedConfigs(ctx context.Context, a sdk.AnalyzeResponse) bool {
	changed := false
	for i, name := range a.ConfigFiles {
		path := l.cmd.SDK().Path(name)
		info, err := os.Stat(path)
		if err != nil || info.Mode()&os.ModeNamedPipe == 0 {
			continue
		}
		copyPath := filepath.Join(filepath.Dir(l.copyDir(1)), "inputs", fmt.Sprintf("%d-%s", i, strings.TrimLeft(filepath.Base(name), ".")))
		n, err := copyPipe(ctx, path, copyPath)
		switch {
		case err != nil && n == 0:
			l.say.Warn("config %s is a pipe that vramrun could not read (%v): the job reads it, and vramrun sizes nothing it sets", name, err)
			continue
		case err != nil:
			l.say.Warn("config %s is a pipe that vramrun read only %d bytes of (%v): the job gets those, from %s", name, n, err, copyPath)
		}
		if l.cmd.Substitute(name, copyPath) {
			l.say.Warn("config %s is a pipe: vramrun read it once into %s, which the job reads instead", name, copyPath)
			changed = true
		}
	}
	return changed
}

// copyPipe copies the pipe at path to a new file at dst, to its end or
// until ctx ends (a pipe whose writer never finishes). Nothing is read
// unless dst could be created. It returns how many bytes it took from the
// pipe: those are in dst even when err is not nil, since the pipe no
// longer has them.
func copyPipe(ctx context.Context, path, dst string) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return 0, err
	}
	// dst is in vramrun's own folder: one left by an earlier plan goes,
	// and a link put in its place is not followed.
	if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, err
	}
	var copied atomic.Int64
	done := make(chan error, 1)
	go func() {
		// Opening a FIFO blocks until its writer opens it: that too waits
		// on ctx.
		in, err := os.Open(path)
		if err != nil {
			done <- err
			return
		}
		defer in.Close()
		_, err = io.Copy(countingWriter{out, &copied}, in)
		done <- err
	}()
	select {
	case <-ctx.Done():
		err = ctx.Err()
	case err = <-done:
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil && copied.Load() == 0 {
		os.Remove(dst)
	}
	return copied.Load(), err
}

type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// typed is the command as typed and the analysis of it, for learned
// state: its argv and folder, and its piped configs under their own names
// with the contents the job was given, so that the same command with the
// same config is the same command from run to run.
func (l *loop) typed(a sdk.AnalyzeResponse) (sdk.AnalyzeResponse, sdk.Command) {
	cmd := sdk.Command{Argv: l.cfg.argv, Dir: l.cfg.dir}
	inputs := l.cmd.Inputs()
	if len(inputs) == 0 {
		return a, cmd
	}
	original := map[string]string{}
	cmd.Files = map[string][]byte{}
	for name, copyPath := range inputs {
		original[copyPath] = name
		if data, err := readCapped(copyPath); err == nil {
			cmd.Files[name] = data
		}
	}
	configs := make([]string, len(a.ConfigFiles))
	for i, f := range a.ConfigFiles {
		if name, ok := original[f]; ok {
			f = name
		}
		configs[i] = f
	}
	a.ConfigFiles = configs
	return a, cmd
}

func readCapped(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxInput))
}
