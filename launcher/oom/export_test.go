package oom

// FirstTriggerID exposes the prefiltered line matching to the external
// tests: the ID of the pattern that takes line, or "".
func (m *Matcher) FirstTriggerID(line string) string {
	var scratch []int
	idx, _ := m.firstTrigger([]byte(line), &scratch)
	if idx < 0 {
		return ""
	}
	return m.patterns[idx].decl.ID
}

// ScannerLineBuffer reports the length and capacity of the scanner's buffer
// for the line in progress.
func ScannerLineBuffer(s *Scanner) (length, capacity int) {
	return len(s.split.line), cap(s.split.line)
}
