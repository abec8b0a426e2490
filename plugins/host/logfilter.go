package host

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
)

// wellTypedLogs passes a plugin's stderr on line by line, turning a
// non-string value of an hclog field into its JSON text, so that what a
// plugin writes on stderr can never crash vramrun. Lines that are not JSON
// objects, and lines too long to hold, pass unchanged.
func wellTypedLogs(r io.ReadCloser) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		br := bufio.NewReaderSize(r, 64<<10)
		long := false // within a line longer than the buffer
		for {
			line, err := br.ReadSlice('\n')
			if len(line) > 0 {
				if !long && (err == nil || err == io.EOF) {
					line = retype(line)
				}
				long = err == bufio.ErrBufferFull
				if _, werr := pw.Write(line); werr != nil {
					_ = r.Close()
					return
				}
			}
			if err != nil && err != bufio.ErrBufferFull {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return readCloser{Reader: pr, close: func() error { _ = pr.Close(); return r.Close() }}
}

// retype rewrites one JSON log line whose hclog fields are not strings.
func retype(line []byte) []byte {
	body := bytes.TrimRight(line, "\r\n")
	if len(body) == 0 || body[0] != '{' {
		return line
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(body, &obj) != nil {
		return line
	}
	changed := false
	// go-plugin (1.8.0) reads these as strings; any other type there panics
	// inside it and would end vramrun.
	for _, k := range []string{"@message", "@level", "@timestamp"} {
		v, ok := obj[k]
		if !ok || (len(v) > 0 && v[0] == '"') {
			continue
		}
		s, _ := json.Marshal(string(v))
		obj[k] = s
		changed = true
	}
	if !changed {
		return line
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return line
	}
	return append(out, line[len(body):]...)
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }
