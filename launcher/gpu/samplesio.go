package gpu

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"
)

// sampleLine is one line of a samples file.
type sampleLine struct {
	Time       string            `json:"time"`
	DeviceUsed map[string]uint64 `json:"device_used"`
	JobUsed    *uint64           `json:"job_used"`
}

// WriteSamples writes samples as JSON lines, one object a line:
//
//	{"time":"2026-01-02T15:04:05.123456789Z","device_used":{"GPU-...":1234},"job_used":1000}
//
// time is RFC 3339 with nanoseconds; device_used maps each device's UUID to
// its used bytes; job_used is the job's own bytes, null when unknown.
func WriteSamples(w io.Writer, samples []Sample) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	for _, s := range samples {
		line := sampleLine{Time: s.Time.Format(time.RFC3339Nano), DeviceUsed: s.DeviceUsed}
		if line.DeviceUsed == nil {
			line.DeviceUsed = map[string]uint64{}
		}
		if s.JobUsedKnown {
			v := s.JobUsed
			line.JobUsed = &v
		}
		if err := enc.Encode(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// ReadSamples reads what WriteSamples wrote. Blank lines are skipped; a bad
// line is an error naming its line number.
func ReadSamples(r io.Reader) ([]Sample, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	var out []Sample
	for n := 1; sc.Scan(); n++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var line sampleLine
		// Unknown fields are ignored: later versions may add some.
		if err := json.Unmarshal([]byte(text), &line); err != nil {
			return nil, fmt.Errorf("samples line %d: %v", n, err)
		}
		t, err := time.Parse(time.RFC3339Nano, line.Time)
		if err != nil {
			return nil, fmt.Errorf("samples line %d: time %q is not RFC 3339", n, line.Time)
		}
		s := Sample{Time: t, DeviceUsed: line.DeviceUsed}
		if s.DeviceUsed == nil {
			s.DeviceUsed = map[string]uint64{}
		}
		if line.JobUsed != nil {
			s.JobUsed, s.JobUsedKnown = *line.JobUsed, true
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("samples: %v", err)
	}
	return out, nil
}
