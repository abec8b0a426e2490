package oom

import (
	"reflect"
	"testing"
)

func TestWithoutJob(t *testing.T) {
	const gib = int64(1) << 30
	n := func(v int64) *int64 { return &v }
	// A 16 GiB GPU, 1 GiB free; the job's allocator holds 9 GiB.
	figs := figures{capacity: n(16 * gib), free: n(gib), allocated: n(8 * gib), reservedUnallocated: n(gib)}
	other := ProcessUsage{PID: 7, UsedBytes: 5 * gib}
	self := ProcessUsage{PID: 42, UsedBytes: 9*gib + gib/2} // the allocator's 9 GiB plus its context
	cases := []struct {
		name    string
		others  []ProcessUsage
		jobPIDs []int
		figs    figures
		want    []ProcessUsage
	}{
		{"the job's pid is dropped", []ProcessUsage{other, self}, []int{41, 42}, figs, []ProcessUsage{other}},
		{"another process stays", []ProcessUsage{other}, []int{42}, figs, []ProcessUsage{other}},
		{"without pids the figures find the job", []ProcessUsage{other, self}, nil, figs, []ProcessUsage{other}},
		{"the job alone, as PyTorch 2.1 prints it", []ProcessUsage{self}, nil, figs, []ProcessUsage{}},
		{"figures that add up keep everyone", []ProcessUsage{{PID: 7, UsedBytes: 6 * gib}}, nil, figs, []ProcessUsage{{PID: 7, UsedBytes: 6 * gib}}},
		{"no entry can hold the allocator's memory", []ProcessUsage{{PID: 7, UsedBytes: 8 * gib}}, nil, figs, []ProcessUsage{{PID: 7, UsedBytes: 8 * gib}}},
		{"without free memory figures nothing is inferred", []ProcessUsage{self}, nil, figures{capacity: n(16 * gib), allocated: n(8 * gib)}, []ProcessUsage{self}},
		{"the smallest entry that fits is the job", []ProcessUsage{{PID: 7, UsedBytes: 12 * gib}, self}, nil,
			figures{capacity: n(24 * gib), free: n(gib), allocated: n(8 * gib), reservedUnallocated: n(gib)},
			[]ProcessUsage{{PID: 7, UsedBytes: 12 * gib}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := withoutJob(c.others, c.jobPIDs, c.figs)
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}
