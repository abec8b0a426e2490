package hydra

import (
	"github.com/vramrun/vramrun/plugins/pyscript"
	"github.com/vramrun/vramrun/sdk"
)

// rejections are the texts with which a Hydra-configured trainer turns a
// fix's override down: Hydra's own for a key its config does not have
// ("Could not override 'actor_rollout_ref.model.enable_activation_offload'.
// To append to your config use +...", hydra/_internal/config_loader_impl.py:
// a key of a newer release than the one installed), and Python's
// (pyscript.Rejections). vramrun then takes the fix back.
func rejections() []sdk.RejectionPattern {
	return append(pyscript.Rejections(Name),
		sdk.RejectionPattern{ID: Name + ".could_not_override", Regexp: `Could not override '(?P<name>[^']+)'`})
}
