//go:build !race

package oom_test

// raceEnabled: see race_test.go.
const raceEnabled = false
