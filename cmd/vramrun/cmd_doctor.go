package main

import (
	"encoding/json"

	"github.com/spf13/cobra"

	"github.com/vramrun/vramrun/launcher/doctor"
	"github.com/vramrun/vramrun/launcher/gpu"
)

// doctorOptions are vramrun doctor's.
type doctorOptions struct {
	json   bool
	python string
}

func (s *session) newDoctorCmd() *cobra.Command {
	opts := &doctorOptions{}
	cmd := newCobra("doctor [--json] [--python PATH]", "Check GPUs, driver, who holds VRAM, hardware health and the job's Python")
	cmd.Long = "Checks what NVML can see — each GPU, who holds its memory, ECC errors, retired pages,\nremapped rows, recent Xid events — and the job's Python and its ML packages.\n\nExit status: 1 when it finds a problem, else 0."
	cmd.Args = cobra.NoArgs
	cmd.Flags().BoolVar(&opts.json, "json", false, "print the report as JSON")
	cmd.Flags().StringVar(&opts.python, "python", "python3", "the job's Python interpreter")
	cmd.RunE = func(c *cobra.Command, _ []string) error {
		s.cancelOnSignal(c.Context())
		report := doctor.Run(c.Context(), doctor.Options{
			Python: opts.python, Env: s.env,
			Open: func() (*gpu.GPUs, error) { return gpu.Open(nvmlLibrary(s.env)) },
		})
		var err error
		if opts.json {
			enc := json.NewEncoder(s.stdout)
			enc.SetIndent("", "  ")
			err = enc.Encode(report)
		} else {
			err = report.WriteText(s.stdout)
		}
		if err != nil {
			return err
		}
		s.status = report.ExitCode()
		return nil
	}
	return cmd
}
