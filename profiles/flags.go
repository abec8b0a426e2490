package profiles

import (
	"time"

	"github.com/spf13/pflag"
)

// ProfileFlag is the name of the --profile flag.
const ProfileFlag = "profile"

// RegisterFlags defines the main command's setting flags on fs, with their
// defaults, so that their names live in one
// place: --max-attempts --grace --ladder --no-learn --gpu-poll --events
// --pick-gpu --wait-free --pty and --profile. Load reads the Changed ones
// back from the same FlagSet.
func RegisterFlags(fs *pflag.FlagSet) {
	d := Defaults()
	for _, k := range scalarKeys() {
		if k.flag == "" {
			continue
		}
		def := k.get(&d)
		switch k.kind {
		case kindInt:
			fs.Int(k.flag, def.(int), k.help)
		case kindDuration:
			fs.Duration(k.flag, def.(time.Duration), k.help)
		case kindBool:
			switch k.name {
			case "learn":
				fs.Bool(k.flag, false, "do not use or record learned state")
			case "resume":
				fs.Bool(k.flag, false, "on a relaunch, start the job from scratch even when it wrote a checkpoint")
			default:
				fs.Bool(k.flag, def.(bool), k.help)
			}
		default:
			fs.String(k.flag, format(def), k.help)
		}
	}
	fs.String(ProfileFlag, "", "use the named section under profiles: in vramrun.yaml")
	fs.Bool(TrustFlag, false, "use the project vramrun.yaml's plugins: and env: for this run without vramrun trust")
}
