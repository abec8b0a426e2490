#!/usr/bin/env bash
# CPU cost of vramrun itself while a job runs: user+sys seconds that vramrun
# spends supervising a job that only sleeps, with GPU sampling on (the
# built-in simulated GPU, VRAMRUN_SIMGPU) and off (no NVML library).
#
#   examples/bench/cpu.sh            # 60 s per case (issue 14 target: <= 0.5 % at 2 Hz)
#   DURATION=10 examples/bench/cpu.sh
#
# vramrun's own cost is its rusage (os.wait4, which includes the job it
# reaped) minus the job's own, which the job reports from getrusage just
# before it exits. The simulated GPU reads a folder per sample where a real
# NVML call goes to the driver, so "sampling on" measures vramrun's side of
# sampling (ticks, process tree, bookkeeping), not the driver's.
set -euo pipefail
cd "$(dirname "$0")/../.."

duration="${DURATION:-60}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

export CGO_CFLAGS="${CGO_CFLAGS:--O2 -g -Wno-deprecated-declarations}"
go build -buildvcs=false -o "$work/vramrun" ./cmd/vramrun

mkdir -p "$work/project"
python3 - "$work" "$duration" <<'PY'
import os, subprocess, sys

work, duration = sys.argv[1], float(sys.argv[2])
vramrun = os.path.join(work, "vramrun")
project = os.path.join(work, "project")
job_cpu = os.path.join(work, "job-cpu")
# The job sleeps, then writes its own user+sys seconds.
job = ["python3", "-c",
       "import resource, sys, time\n"
       "time.sleep(float(sys.argv[1]))\n"
       "r = resource.getrusage(resource.RUSAGE_SELF)\n"
       "open(sys.argv[2], 'w').write(repr(r.ru_utime + r.ru_stime))\n",
       str(duration), job_cpu]

base = {k: v for k, v in os.environ.items() if not k.startswith("VRAMRUN_")}
base.update(HOME=work, XDG_CONFIG_HOME=os.path.join(work, "config"),
            XDG_STATE_HOME=os.path.join(work, "state"), XDG_DATA_HOME=os.path.join(work, "data"))
cases = [
    ("sampling off (no NVML)", {"VRAMRUN_NVML_LIBRARY": "/nonexistent/libnvidia-ml.so.1"}, []),
    ("sampling on, every 500ms (default)", {"VRAMRUN_SIMGPU": os.path.join(work, "simgpu")}, []),
    ("sampling on, every 50ms", {"VRAMRUN_SIMGPU": os.path.join(work, "simgpu")}, ["--gpu-poll", "50ms"]),
]

def run(argv, env):
    proc = subprocess.Popen(argv, env=env, cwd=project, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit("%s exited %d: %s" % (argv[0], proc.returncode, proc.stderr.read().decode()))
    with open(job_cpu) as f:
        own = float(f.read())
    return usage.ru_utime + usage.ru_stime, own

print("job: python3 sleeping %gs; %d CPUs; %s" % (duration, os.cpu_count(),
      subprocess.run([vramrun, "version"], capture_output=True, text=True).stdout.strip() or "(dev)"))
print()
print("| case | vramrun user+sys (s) | per minute of job (s) | share of one CPU |")
print("|---|---|---|---|")
total, own = run(job, base)
print("| the job alone | %.3f (the job itself) | | |" % own)
for name, extra, flags in cases:
    env = dict(base, **extra)
    total, own = run([vramrun] + flags + ["--"] + job, env)
    cost = max(total - own, 0.0)
    print("| %s | %.3f | %.3f | %.2f %% |" % (name, cost, cost * 60 / duration, 100 * cost / duration))
PY
