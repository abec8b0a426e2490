// Command convergence prints how vramrun's planner, halving and 0.9x per
// failure converge on a grid of simulated out-of-memory jobs: relaunches to
// fit, and the final micro-batch as a share of the largest that fits. The
// README's table comes from here: go run ./examples/convergence
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/vramrun/vramrun/launcher/plan/plansim"
)

func main() {
	perJob := flag.Bool("jobs", false, "also print every job")
	flag.Parse()
	jobs := plansim.Grid()
	strategies := []plansim.Strategy{&plansim.Planner{}, plansim.Halving{}, plansim.Shrink90{}}
	if *perJob {
		fmt.Printf("%-42s", "job")
		for _, s := range strategies {
			fmt.Printf(" | %-16s", s.Name())
		}
		fmt.Println()
		for _, j := range jobs {
			fmt.Printf("%-42s", j.Name)
			for _, s := range strategies {
				o := plansim.Simulate(j, s)
				fmt.Printf(" | %2d relaunches %3.0f%%", o.Relaunches, o.Share*100)
			}
			fmt.Println()
		}
		fmt.Println()
	}
	fmt.Printf("%d simulated jobs, starting batch 256\n\n", len(jobs))
	fmt.Println("| strategy | relaunches (median / mean / max) | final micro-batch, share of the largest that fits (median / mean) | never fit |")
	fmt.Println("|---|---|---|---|")
	for _, s := range plansim.Summarize(jobs, strategies...) {
		fmt.Printf("| %s | %.0f / %.1f / %d | %.0f%% / %.0f%% | %d |\n", s.Strategy, s.MedianRelaunches, s.MeanRelaunches,
			s.MaxRelaunches, s.MedianShare*100, s.MeanShare*100, s.Failed)
	}
	configs := plansim.ConfigGrid()
	fmt.Printf("\n%d simulated jobs whose command also has checkpointing and 8-bit Adam, effective batch 256 kept\n\n", len(configs))
	printConfigTable("run mode", plansim.SummarizeConfigs(configs))
	fmt.Printf("\nThe same %d jobs with the level NVML sees before the first step (the batch-only grid above is unchanged by it: cuts are sized from the figures, never by splitting one point)\n\n", len(configs))
	printConfigTable("mode, level before the first step", plansim.SummarizeLoadings(configs))
	fmt.Printf("\nThe room at the end of run mode on the same %d jobs, judged by the ground truth (named: the speed model predicts at least %.0f %%)\n\n", len(configs), plansim.RoomGain*100)
	fmt.Println("| level before the first step | runs | a larger micro-batch predicted to fit | of those, fit | named | named and truly that much faster | not named, truly that much faster | median gain predicted / true (those that fit) |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	for _, s := range plansim.SummarizeRooms(configs) {
		fmt.Printf("| %s | %d | %d | %d | %d | %d | %d | %.0f %% / %.0f %% |\n", s.Name, s.Runs, s.Rooms, s.Fit, s.Named, s.Right, s.Missed,
			s.MedianPredicted*100, s.MedianTrueGain*100)
	}
	os.Exit(0)
}

// printConfigTable prints a table of the configuration grid's summaries,
// first column headed first.
func printConfigTable(first string, summaries []plansim.ConfigSummary) {
	fmt.Printf("| %s | relaunches (median / mean / max) | final speed, share of the fastest configuration that fits (median / 10th percentile) | never fit |\n", first)
	fmt.Println("|---|---|---|---|")
	for _, s := range summaries {
		fmt.Printf("| %s | %.0f / %.2f / %d | %.0f%% / %.0f%% | %d |\n", s.Name, s.MedianRelaunches, s.MeanRelaunches,
			s.MaxRelaunches, s.MedianShare*100, s.TenthPercentile*100, s.Failed)
	}
}
