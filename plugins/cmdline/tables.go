package cmdline

import "sync"

// The option tables of the programs Parse understands. Each is read-only
// data, built when a command first needs it rather than at start-up, where
// every vramrun command (`vramrun version` too) would pay for all of them;
// where a list was taken from a program's source or help, the comment says
// which.

// arities builds a name -> arity map from lists of names.
func arities(none, needs, optional []string) map[string]arity {
	m := make(map[string]arity, len(none)+len(needs)+len(optional))
	for _, n := range none {
		m[n] = noValue
	}
	for _, n := range needs {
		m[n] = needsValue
	}
	for _, n := range optional {
		m[n] = optionalValue
	}
	return m
}

// shortArities builds a letter -> arity map from strings of letters.
func shortArities(none, needs, optional string) map[byte]arity {
	m := make(map[byte]arity, len(none)+len(needs)+len(optional))
	for i := 0; i < len(none); i++ {
		m[none[i]] = noValue
	}
	for i := 0; i < len(needs); i++ {
		m[needs[i]] = needsValue
	}
	for i := 0; i < len(optional); i++ {
		m[optional[i]] = optionalValue
	}
	return m
}

// torchrunTable: torch/distributed/run.py get_args_parser (PyTorch 2.x
// main). Only --standalone, -m/--module, --no-python, --run-path and
// --virtual-local-rank (and -h) take no value; argparse's allow_abbrev is
// left on, and every option has an underscore spelling too.
var torchrunTable = sync.OnceValue(func() *optionTable {
	return &optionTable{
		program: "torchrun",
		long: arities(
			[]string{"standalone", "module", "no-python", "run-path", "virtual-local-rank", "help"},
			[]string{"nnodes", "nproc-per-node", "rdzv-backend", "rdzv-endpoint", "rdzv-id", "rdzv-conf",
				"max-restarts", "monitor-interval", "start-method", "event-log-handler", "role", "log-dir",
				"redirects", "tee", "local-ranks-filter", "duplicate-stdout-filters", "duplicate-stderr-filters",
				"node-rank", "master-addr", "master-port", "local-addr", "logs-specs", "numa-binding",
				"signals-to-handle", "shutdown-timeout"},
			nil),
		short:        shortArities("mh", "rt", ""),
		alias:        map[string]string{"-m": "--module", "-r": "--redirects", "-t": "--tee", "-h": "--help"},
		fold:         true,
		abbrev:       true,
		unknownLong:  needsValue,
		unknownShort: needsValue,
	}
})

// torchLaunchTable: torch/distributed/launch.py is torchrun's parser plus
// the value-less --use-env / --use_env.
var torchLaunchTable = sync.OnceValue(func() *optionTable {
	t := *torchrunTable()
	t.program = "torch.distributed.launch"
	t.long = make(map[string]arity, len(torchrunTable().long)+1)
	for k, v := range torchrunTable().long {
		t.long[k] = v
	}
	t.long["use-env"] = noValue
	return &t
})

// accelerateTable: accelerate/commands/launch.py. allow_abbrev=False; the
// value-less flags are exactly these, every other option takes a value;
// accelerate's own argparse actions add a dashed spelling of every
// underscored option.
var accelerateTable = sync.OnceValue(func() *optionTable {
	return &optionTable{
		program: "accelerate launch",
		long: arities(
			[]string{"cpu", "multi-gpu", "tpu", "quiet", "enable-cpu-affinity", "dynamo-use-fullgraph",
				"dynamo-use-dynamic", "dynamo-use-regional-compilation", "use-deepspeed", "use-fsdp",
				"use-parallelism-config", "use-megatron-lm", "same-network", "module", "no-python",
				"tpu-cluster", "no-tpu-cluster", "tpu-use-sudo", "downcast-bf16", "fp8-use-autocast-during-eval",
				"debug", "help"},
			nil, nil),
		short:        shortArities("mqh", "", ""),
		alias:        map[string]string{"-m": "--module", "-q": "--quiet", "-h": "--help"},
		fold:         true,
		unknownLong:  needsValue,
		unknownShort: needsValue,
	}
})

// deepspeedTable: deepspeed/launcher/runner.py parse_args. Plain argparse:
// underscore spellings only, allow_abbrev on.
var deepspeedTable = sync.OnceValue(func() *optionTable {
	return &optionTable{
		program: "deepspeed",
		long: arities(
			[]string{"module", "no_python", "no_local_rank", "no_ssh", "no_ssh_check", "force_multi",
				"save_pid", "elastic_training", "bind_cores_to_rank", "quiet", "help"},
			[]string{"hostfile", "include", "exclude", "num_nodes", "min_elastic_nodes", "max_elastic_nodes",
				"num_gpus", "num_accelerators", "master_port", "master_addr", "node_rank", "launcher",
				"launcher_args", "enable_each_rank_log", "autotuning", "comment", "account", "bind_core_list",
				"ssh_port"},
			nil),
		short:        shortArities("qh", "Hie", ""),
		alias:        map[string]string{"-H": "--hostfile", "-i": "--include", "-e": "--exclude", "-q": "--quiet", "-h": "--help"},
		abbrev:       true,
		unknownLong:  needsValue,
		unknownShort: needsValue,
	}
})

// srunTable: srun of Slurm 22.05.8 (Debian 12 package slurm-client
// 22.05.8-4+deb12u3). The names come from `srun --help`, `man srun` and
// srun's own "ambiguous option" answers; each name's arity was read from
// srun's getopt_long answers to `srun --NAME` ("requires an argument") and
// `srun --NAME=x` ("doesn't allow an argument"). srun stops at the first
// non-option (the program) and accepts unique prefixes of long names.
var srunTable = sync.OnceValue(func() *optionTable {
	return &optionTable{
		program: "srun",
		long: arities(
			[]string{"contiguous", "debugger-test", "disable-status", "exact", "help", "hold", "interactive",
				"label", "multi-prog", "no-allocate", "overcommit", "oversubscribe", "preserve-env", "pty",
				"quiet", "quit-on-interrupt", "reboot", "spread-job", "test-only", "unbuffered", "usage",
				"use-min-nodes", "verbose", "version", "whole"},
			[]string{"accel-bind", "account", "acctg-freq", "bb", "bbf", "bcast-exclude", "begin", "chdir",
				"cluster", "cluster-constraint", "clusters", "comment", "constraint", "container", "context",
				"core-spec", "cores-per-socket", "cpu-bind", "cpu-freq", "cpu_bind", "cpus-per-gpu",
				"cpus-per-task", "deadline", "delay-boot", "dependency", "distribution", "epilog", "error",
				"exclude", "export", "extra-node-info", "gid", "gpu-bind", "gpu-freq", "gpus", "gpus-per-node",
				"gpus-per-socket", "gpus-per-task", "gres", "gres-flags", "het-group", "hint", "input",
				"job-name", "jobid", "license", "licenses", "mail-type", "mail-user", "mcs-label", "mem",
				"mem-bind", "mem-per-cpu", "mem-per-gpu", "mincpus", "mpi", "msg-timeout", "network",
				"nodefile", "nodelist", "nodes", "ntasks", "ntasks-per-core", "ntasks-per-gpu",
				"ntasks-per-node", "ntasks-per-socket", "ntasks-per-tres", "open-mode", "output",
				"pack-group", "partition", "power", "prefer", "priority", "profile", "prolog", "qos",
				"relative", "reservation", "signal", "slurmd-debug", "sockets-per-node", "switches",
				"task-epilog", "task-prolog", "tasks-per-node", "thread-spec", "threads", "threads-per-core",
				"time", "time-min", "tmp", "uid", "wait", "wckey"},
			[]string{"bcast", "compress", "exclusive", "immediate", "kill-on-bad-exit", "nice", "no-kill",
				"overlap", "propagate", "resv-ports", "send-libs", "x11"}),
		short: shortArities("hlsuvEHOQVXZ", "bcdeimnopqrtwxABCDFGJLMNSTW", "kIK"),
		alias: map[string]string{"-n": "--ntasks", "-N": "--nodes", "-c": "--cpus-per-task",
			"-G": "--gpus", "-p": "--partition", "-t": "--time", "-J": "--job-name"},
		abbrev:       true,
		unknownLong:  noValue,
		unknownShort: noValue,
	}
})

// rayJobSubmitTable: `ray job submit` of Ray 2.x
// (python/ray/dashboard/modules/job/cli.py, the submit command, with
// cli_utils.py's add_common_job_options and cli_logger.py's logging
// options). click: --no-wait (is_flag), -v/--verbose (a count) and --help
// take no value; every other option takes one, --verify too (a bool or a
// certificate path, not a flag). click matches no abbreviations, and an
// option missing here (a newer release's) is taken to need a value, as
// all of submit's others do.
var rayJobSubmitTable = sync.OnceValue(func() *optionTable {
	return &optionTable{
		program: "ray job submit",
		long: arities(
			[]string{"no-wait", "verbose", "help"},
			[]string{"address", "job-id", "submission-id", "runtime-env", "runtime-env-json", "working-dir",
				"metadata-json", "entrypoint-num-cpus", "entrypoint-num-gpus", "entrypoint-memory",
				"entrypoint-resources", "entrypoint-label-selector", "verify", "headers", "header",
				"log-style", "log-color"},
			nil),
		short:        shortArities("v", "", ""),
		alias:        map[string]string{"-v": "--verbose"},
		unknownLong:  needsValue,
		unknownShort: noValue,
	}
})

// uvTable: `uv run` (and uv's global options, which may come before or
// after `run`), from uv's documented command-line reference. clap: no
// abbreviations; an option missing here is taken as a flag.
var uvTable = sync.OnceValue(func() *optionTable {
	return &optionTable{
		program: "uv",
		long: arities(
			[]string{"all-extras", "no-dev", "dev", "only-dev", "all-groups", "no-default-groups", "module",
				"no-editable", "exact", "no-env-file", "isolated", "active", "no-active", "no-sync", "locked",
				"frozen", "script", "gui-script", "all-packages", "no-project", "upgrade", "refresh",
				"reinstall", "compile-bytecode", "no-build-isolation", "no-sources", "no-build", "no-binary",
				"no-index", "no-cache", "offline", "no-progress", "native-tls", "quiet", "verbose", "help",
				"version", "managed-python", "no-managed-python", "no-python-downloads", "no-config",
				"preview", "no-preview", "show-resolution"},
			[]string{"extra", "no-extra", "group", "no-group", "only-group", "with", "with-editable",
				"with-requirements", "env-file", "package", "python", "index", "default-index", "index-url",
				"extra-index-url", "find-links", "index-strategy", "keyring-provider", "resolution",
				"prerelease", "fork-strategy", "exclude-newer", "exclude-newer-package",
				"no-build-isolation-package", "config-setting", "config-settings-package", "link-mode",
				"refresh-package", "reinstall-package", "upgrade-package", "no-binary-package",
				"no-build-package", "no-sources-package", "python-platform", "cache-dir", "python-preference",
				"color", "allow-insecure-host", "directory", "project", "config-file", "preview-features"},
			nil),
		short: shortArities("msqvnUhV", "pifCP", ""),
		alias: map[string]string{"-m": "--module", "-s": "--script", "-p": "--python", "-q": "--quiet",
			"-v": "--verbose", "-i": "--index-url", "-f": "--find-links", "-C": "--config-setting",
			"-P": "--upgrade-package", "-n": "--no-cache", "-U": "--upgrade", "-h": "--help", "-V": "--version"},
		unknownLong:  noValue,
		unknownShort: noValue,
	}
})

// envTable: GNU coreutils env (getopt_long with "+").
var envTable = sync.OnceValue(func() *optionTable {
	return &optionTable{
		program: "env",
		long: arities(
			[]string{"ignore-environment", "null", "list-signal-handling", "debug", "help", "version"},
			[]string{"unset", "chdir", "split-string", "argv0"},
			[]string{"block-signal", "default-signal", "ignore-signal"}),
		short:        shortArities("i0v", "uCSa", ""),
		alias:        map[string]string{"-i": "--ignore-environment", "-u": "--unset", "-C": "--chdir", "-S": "--split-string"},
		abbrev:       true,
		unknownLong:  noValue,
		unknownShort: noValue,
	}
})

// niceTable: GNU coreutils nice (the old `nice -10 cmd` form is read
// apart).
var niceTable = sync.OnceValue(func() *optionTable {
	return &optionTable{
		program:      "nice",
		long:         arities([]string{"help", "version"}, []string{"adjustment"}, nil),
		short:        shortArities("", "n", ""),
		alias:        map[string]string{"-n": "--adjustment"},
		abbrev:       true,
		unknownLong:  noValue,
		unknownShort: noValue,
	}
})

// nohupTable: GNU coreutils nohup.
var nohupTable = sync.OnceValue(func() *optionTable {
	return &optionTable{
		program: "nohup",
		long:    arities([]string{"help", "version"}, nil, nil),
		abbrev:  true,
	}
})

// timeTable: GNU time (/usr/bin/time).
var timeTable = sync.OnceValue(func() *optionTable {
	return &optionTable{
		program: "time",
		long: arities([]string{"append", "portability", "quiet", "verbose", "help", "version"},
			[]string{"format", "output"}, nil),
		short:  shortArities("apqvV", "fo", ""),
		abbrev: true,
	}
})

// stdbufTable: GNU coreutils stdbuf.
var stdbufTable = sync.OnceValue(func() *optionTable {
	return &optionTable{
		program: "stdbuf",
		long:    arities([]string{"help", "version"}, []string{"input", "output", "error"}, nil),
		short:   shortArities("", "ioe", ""),
		abbrev:  true,
	}
})

// timeoutTable: GNU coreutils timeout; its DURATION follows the options.
var timeoutTable = sync.OnceValue(func() *optionTable {
	return &optionTable{
		program: "timeout",
		long: arities([]string{"preserve-status", "foreground", "verbose", "help", "version"},
			[]string{"kill-after", "signal"}, nil),
		short:  shortArities("v", "ks", ""),
		abbrev: true,
	}
})

// shellTable: sh, bash, dash, zsh running a script file. -c (a command
// string, no script) is refused before the scan; -o and +o take a name.
var shellTable = sync.OnceValue(func() *optionTable {
	return &optionTable{
		program: "sh",
		long: arities([]string{"login", "norc", "noprofile", "posix", "noediting", "restricted", "verbose",
			"help", "version", "debugger", "dump-strings", "dump-po-strings", "pretty-print"},
			[]string{"rcfile", "init-file"}, nil),
		short:        shortArities("abefhiklmnprstuvxBCEHPT", "oO", ""),
		unknownShort: noValue,
	}
})

// pythonTable: CPython's own options (Python 3.11-3.14 `python --help`).
// -c, -m and a lone "-" end the interpreter's options and are read apart.
var pythonTable = sync.OnceValue(func() *optionTable {
	return &optionTable{
		program: "python",
		long: arities([]string{"help", "version", "help-env", "help-xoptions", "help-all"},
			[]string{"check-hash-based-pycs"}, nil),
		short:        shortArities("bBdEhiIOPqsSuvVxR?", "WX", ""),
		unknownShort: noValue,
	}
})
