package jax

import "github.com/vramrun/vramrun/sdk"

// Patterns are the out-of-memory texts JAX (XLA) prints, as declared data for
// vramrun's scanner and diagnosis engine. Recent builds print the request in
// bytes ("33762398024 bytes"), older ones with a unit and no space ("16.00GiB").
func Patterns() []sdk.OOMPattern {
	const size = `\d+(?:\.\d+)? ?(?:bytes|[KMGT]iB|B)`
	return []sdk.OOMPattern{
		{
			ID: "jax.out_of_memory", Framework: "jax", Kind: sdk.KindGPU,
			Regexp: `Out of memory while trying to allocate (?P<tried>` + size + `)`,
		},
		{
			// Pinned host memory for transfers ran out: RAM, not VRAM.
			ID: "jax.host_out_of_memory", Framework: "jax", Kind: sdk.KindHost,
			Regexp: `Out of host memory while trying to allocate (?P<tried>` + size + `)`,
		},
	}
}
