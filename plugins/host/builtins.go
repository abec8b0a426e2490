package host

import (
	"github.com/vramrun/vramrun/plugins/axolotl"
	"github.com/vramrun/vramrun/plugins/generic"
	"github.com/vramrun/vramrun/plugins/hydra"
	"github.com/vramrun/vramrun/plugins/jax"
	"github.com/vramrun/vramrun/plugins/lightning"
	"github.com/vramrun/vramrun/plugins/litgpt"
	"github.com/vramrun/vramrun/plugins/llamafactory"
	"github.com/vramrun/vramrun/plugins/openrlhf"
	"github.com/vramrun/vramrun/plugins/pytorch"
	"github.com/vramrun/vramrun/plugins/slurm"
	"github.com/vramrun/vramrun/plugins/tensorflow"
	"github.com/vramrun/vramrun/plugins/torchtitan"
	"github.com/vramrun/vramrun/plugins/torchtune"
	"github.com/vramrun/vramrun/plugins/transformers"
	"github.com/vramrun/vramrun/plugins/trl"
	"github.com/vramrun/vramrun/plugins/unsloth"
	"github.com/vramrun/vramrun/sdk"
)

// Builtins are the plugins compiled into vramrun, in tie-break order.
func Builtins() []sdk.Framework {
	return []sdk.Framework{transformers.New(), llamafactory.New(), axolotl.New(), trl.New(), torchtune.New(), litgpt.New(), torchtitan.New(), hydra.New(), openrlhf.New(), unsloth.New(), lightning.New(), pytorch.New(), tensorflow.New(), jax.New(), slurm.New(), generic.New()}
}
