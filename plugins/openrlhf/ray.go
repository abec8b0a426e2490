package openrlhf

import (
	"fmt"
	"strconv"
	"strings"
)

// rayActor is one generation's flags for where a Ray trainer's actor
// trains (openrlhf/cli/train_ppo_ray.py, train_grpo_ray.py): Ray starts
// nodes × gpus training processes for it (openrlhf/trainer/ray/launcher.py,
// RayActorGroup: one per GPU), whatever launched the driver. The
// processes of one model-parallel group (ring attention or context
// parallel, tensor parallel) share a micro-batch, so the strategy's
// accumulation is train batch ÷ micro ÷ (world ÷ their sizes):
// openrlhf/utils/deepspeed/deepspeed.py (train batch × ring × tp ÷ micro
// ÷ world), utils/fsdp2 and utils/fsdp/strategy.py (÷ micro × dp). The
// defaults are the same in every generation: 1 node, 8 GPUs per node,
// model-parallel sizes 1.
type rayActor struct {
	nodes, gpus   string
	modelParallel [2]string // "" where a generation has fewer
}

const (
	rayNodesDefault = 1
	rayGPUsDefault  = 8
)

var (
	// legacyRay: --ring_attn_size and --ds_tensor_parallel_size (also
	// read by the FSDP2 backend of those releases, utils/fsdp2).
	legacyRay = rayActor{nodes: "--actor_num_nodes", gpus: "--actor_num_gpus_per_node",
		modelParallel: [2]string{"--ring_attn_size", "--ds_tensor_parallel_size"}}
	dottedRay = rayActor{nodes: "--actor.num_nodes", gpus: "--actor.num_gpus_per_node",
		modelParallel: [2]string{"--ds.ring_attn_size", "--ds.tensor_parallel_size"}}
	// fsdpRay: context parallel took ring attention's place; the data
	// axis is the world over tp × cp (NeMo Automodel's mesh; the
	// strategy refuses --fsdp.pp_size above 1, and expert parallelism
	// splits no batch).
	fsdpRay = rayActor{nodes: dottedRay.nodes, gpus: dottedRay.gpus, modelParallel: [2]string{"--fsdp.tp_size", "--fsdp.cp_size"}}
	// dottedBareRay: a dotted command naming neither backend section
	// gives no model-parallel size, which is 1 in both.
	dottedBareRay = rayActor{nodes: dottedRay.nodes, gpus: dottedRay.gpus}
)

// isRay says whether the trainer is one of OpenRLHF's Ray trainers with an
// actor that trains (train_ppo_ray, train_grpo_ray); train_es_ray trains
// no actor group (its workers are vLLM engines).
func isRay(script string) bool {
	return strings.HasSuffix(script, "_ray") && script != "openrlhf.cli.train_es_ray"
}

// size is a flag's positive whole number, def when the command does not
// give one; given says whether it did.
func (c *command) size(name string, def int) (n int, given bool) {
	if v := c.num(name); v != nil && *v > 0 {
		return *v, true
	}
	return def, false
}

// rayWorld is the actor's data-parallel size, and a note when it counts
// OpenRLHF's default for the nodes or the GPUs per node.
func (c *command) rayWorld() (int, string) {
	r := c.names.actor
	nodes, nodesGiven := c.size(r.nodes, rayNodesDefault)
	gpus, gpusGiven := c.size(r.gpus, rayGPUsDefault)
	world, split := nodes*gpus, 1
	var splits []string
	for _, name := range r.modelParallel {
		if name == "" {
			continue
		}
		if n, _ := c.size(name, 1); n > 1 {
			split *= n
			splits = append(splits, name+" "+strconv.Itoa(n))
		}
	}
	dp := max(world/split, 1)
	var defaulted []string
	if !nodesGiven {
		defaulted = append(defaulted, r.nodes)
	}
	if !gpusGiven {
		defaulted = append(defaulted, r.gpus)
	}
	if len(defaulted) == 0 {
		return dp, ""
	}
	count := strconv.Itoa(world)
	if split > 1 {
		count = fmt.Sprintf("%d ÷ %d (%s) = %d", world, split, strings.Join(splits, " × "), dp)
	}
	return dp, fmt.Sprintf("Ray starts the actor's training processes itself, on %s %d × %s %d GPUs (OpenRLHF's default for %s, "+
		"which the command does not give): vramrun counts %s data-parallel processes; give %s if the actor runs on other GPUs, "+
		"as the accumulation OpenRLHF derives divides by them", r.nodes, nodes, r.gpus, gpus, strings.Join(defaulted, " and "),
		count, plural(defaulted))
}

func plural(names []string) string {
	if len(names) > 1 {
		return "them"
	}
	return "it"
}
