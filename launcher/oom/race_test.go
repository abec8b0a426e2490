//go:build race

package oom_test

// raceEnabled is set in a race-detector build, whose sync.Pool drops items
// at random: regexp's pooled machines then allocate now and then, and
// allocation counts say nothing about the code.
const raceEnabled = true
