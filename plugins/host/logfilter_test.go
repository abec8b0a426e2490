package host

import (
	"io"
	"strings"
	"testing"
)

func TestWellTypedLogs(t *testing.T) {
	long := "{" + strings.Repeat("x", 100<<10) + "\n"
	in := `{"@message": 5, "@level": "warn"}` + "\n" +
		`{"@message":"fine","@level":"info"}` + "\n" +
		"not json {\n" +
		`{"@level": ["debug"], "@timestamp": 1}` + "\n" +
		long +
		`{"@message": {"a": 1}}`
	out, err := io.ReadAll(wellTypedLogs(io.NopCloser(strings.NewReader(in))))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"@level":"warn","@message":"5"}` + "\n" +
		`{"@message":"fine","@level":"info"}` + "\n" +
		"not json {\n" +
		`{"@level":"[\"debug\"]","@timestamp":"1"}` + "\n" +
		long +
		`{"@message":"{\"a\": 1}"}`
	if string(out) != want {
		t.Errorf("got:\n%.300s\nwant:\n%.300s", out, want)
	}
}
