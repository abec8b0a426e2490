package oom

// withoutJob removes the job's own process from the processes an OOM text
// lists on the GPU. Current PyTorch reports itself apart ("this process
// has ..."), but PyTorch 2.1 lists itself as one more "Process N has ...",
// and counting the job as another process makes its usable memory look
// nearly nil.
//
// A listed pid that is one of the job's (jobPIDs, as vramrun saw them
// during the attempt) goes. When pids cannot be compared (a log given to
// explain, a container with its own pid namespace), the figures decide: the
// job holds at least what its allocator holds (allocated plus reserved but
// unallocated), so when that and the listed processes together exceed the
// memory in use (capacity less free) the listing includes the job, and the
// smallest entry that can hold the allocator's memory is taken for it.
func withoutJob(others []ProcessUsage, jobPIDs []int, f figures) []ProcessUsage {
	if len(others) == 0 {
		return others
	}
	job := make(map[int]bool, len(jobPIDs))
	for _, p := range jobPIDs {
		job[p] = true
	}
	kept := make([]ProcessUsage, 0, len(others))
	for _, o := range others {
		if !job[o.PID] {
			kept = append(kept, o)
		}
	}
	if len(kept) < len(others) || f.capacity == nil || f.free == nil || f.allocated == nil {
		return kept
	}
	own := *f.allocated
	if f.reservedUnallocated != nil {
		own += *f.reservedUnallocated
	}
	inUse := *f.capacity - *f.free
	var listed int64
	for _, o := range kept {
		listed += o.UsedBytes
	}
	// The texts round to 2 decimals of their unit: allow 1% for that.
	if own <= 0 || inUse <= 0 || listed+own <= inUse+inUse/100 {
		return kept
	}
	self := -1
	for i, o := range kept {
		if o.UsedBytes+o.UsedBytes/100 >= own && (self < 0 || o.UsedBytes < kept[self].UsedBytes) {
			self = i
		}
	}
	if self < 0 {
		return kept
	}
	return append(kept[:self:self], kept[self+1:]...)
}
