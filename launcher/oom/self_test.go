package oom

import (
	"reflect"
	"testing"

	"github.com/vramrun/vramrun/sdk"
)

func TestWithoutJob(t *testing.T) {
	const gib = int64(1) << 30
	n := func(v int64) *int64 { return &v }
	// A 16 GiB GPU, 1 GiB free; the job's allocator holds 9 GiB.
	figs := figures{capacity: n(16 * gib), free: n(gib), allocated: n(8 * gib), reservedUnallocated: n(gib)}
	other := sdk.ProcessUsage{PID: 7, UsedBytes: 5 * gib}
	self := sdk.ProcessUsage{PID: 42, UsedBytes: 9*gib + gib/2} // the allocator's 9 GiB plus its context
	cases := []struct {
		name    string
		others  []sdk.ProcessUsage
		jobPIDs []int
		figs    figures
		want    []sdk.ProcessUsage
	}{
		{"the job's pid is dropped", []sdk.ProcessUsage{other, self}, []int{41, 42}, figs, []sdk.ProcessUsage{other}},
		{"another process stays", []sdk.ProcessUsage{other}, []int{42}, figs, []sdk.ProcessUsage{other}},
		{"without pids the figures find the job", []sdk.ProcessUsage{other, self}, nil, figs, []sdk.ProcessUsage{other}},
		{"the job alone, as PyTorch 2.1 prints it", []sdk.ProcessUsage{self}, nil, figs, []sdk.ProcessUsage{}},
		{"figures that add up keep everyone", []sdk.ProcessUsage{{PID: 7, UsedBytes: 6 * gib}}, nil, figs, []sdk.ProcessUsage{{PID: 7, UsedBytes: 6 * gib}}},
		{"no entry can hold the allocator's memory", []sdk.ProcessUsage{{PID: 7, UsedBytes: 8 * gib}}, nil, figs, []sdk.ProcessUsage{{PID: 7, UsedBytes: 8 * gib}}},
		{"without free memory figures nothing is inferred", []sdk.ProcessUsage{self}, nil, figures{capacity: n(16 * gib), allocated: n(8 * gib)}, []sdk.ProcessUsage{self}},
		{"the smallest entry that fits is the job", []sdk.ProcessUsage{{PID: 7, UsedBytes: 12 * gib}, self}, nil,
			figures{capacity: n(24 * gib), free: n(gib), allocated: n(8 * gib), reservedUnallocated: n(gib)},
			[]sdk.ProcessUsage{{PID: 7, UsedBytes: 12 * gib}}},
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
