package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestRealSlurm runs vramrun under a real one-node Slurm (Debian's
// slurm-wlm 22.05 and munge) that the test starts for itself: a munged
// with its own key and socket, a slurmctld and a slurmd with a generated
// slurm.conf, everything under the test's temporary folder and on ports
// of its own, all stopped by pid at the end. The scripts in
// testdata/real-slurm then prove vramrun against srun, sbatch and
// scancel; $SLURM_CONF points them at this cluster.
//
// The cluster runs Slurm's task/cgroup with memory enforcement when this
// machine allows it (a writable memory controller, cgroup v1 or v2); when
// slurmd refuses it, the cluster runs task/none instead and only the
// script that needs the cgroup OOM handler skips, saying why. Any other
// part that is missing or broken fails the test.
func TestRealSlurm(t *testing.T) {
	requirePart(t, "slurm-wlm munge", "slurmctld", "-V")
	requirePart(t, "slurm-wlm munge", "slurmd", "-V")
	requirePart(t, "slurm-wlm munge", "munged", "-V")
	requirePart(t, "slurm-wlm munge", "munge", "-V")
	// The clients answer --version only with a configuration to read.
	requirePart(t, "slurm-wlm munge", "sh", "-c", "command -v srun sbatch scancel sinfo squeue")
	requirePart(t, "python3", "python3", "-V")
	if os.Geteuid() != 0 {
		t.Fatalf("TestRealSlurm starts slurmd, which runs jobs only as root (uid %d here)", os.Geteuid())
	}
	root := repoRoot(t)
	c := startSlurm(t)
	testscript.Run(t, testscript.Params{
		Dir: "testdata/real-slurm",
		Setup: func(env *testscript.Env) error {
			setupScriptEnv(env, root)
			env.Setenv("SLURM_CONF", c.conf)
			env.Setenv("SLURM_NO_CGROUP", c.noCgroup)
			return nil
		},
		Condition: func(cond string) (bool, error) {
			if cond == "slurm_cgroup" {
				return c.noCgroup == "", nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: scriptCmds(),
	})
}

// slurmCluster is the test's own Slurm.
type slurmCluster struct {
	dir     string
	conf    string   // the slurm.conf in use
	env     []string // the daemons' and the test's clients' environment
	munge   string   // munged's socket
	ports   [2]int   // slurmctld's and slurmd's
	daemons []*slurmDaemon
	// noCgroup says why task/cgroup with memory enforcement is not in use;
	// "" when it is.
	noCgroup string
}

// slurmDaemon is one daemon the test started, in the foreground.
type slurmDaemon struct {
	name string
	log  string // its stdout and stderr
	cmd  *exec.Cmd
	done chan struct{} // closed when it has exited
	err  error         // how it exited, once done is closed
}

// How long Slurm may take to run its first job: with task/cgroup, which
// may hang rather than fail on a machine that cannot give it a cgroup, and
// without.
const (
	slurmCgroupStartWithin = 15 * time.Second
	slurmStartWithin       = 30 * time.Second
)

// startSlurm starts munged, slurmctld and slurmd, and returns once a job
// runs; t.Cleanup cancels what is left and stops every daemon by its pid.
func startSlurm(t *testing.T) *slurmCluster {
	t.Helper()
	dir := t.TempDir()
	if len(dir) > 60 {
		// A Unix socket's path holds at most 107 bytes.
		dir = slurmShortDir(t)
	}
	c := &slurmCluster{dir: dir, munge: filepath.Join(dir, "munge", "munge.socket")}
	t.Cleanup(c.stop)
	c.startMunge(t)
	c.ports = [2]int{freeSlurmPort(t), freeSlurmPort(t)}
	why := c.startSlurmDaemons(t, "cgroup", true, slurmCgroupStartWithin)
	if why == "" {
		return c
	}
	c.stopDaemons(func(d *slurmDaemon) bool { return d.name != "munged" })
	c.noCgroup = strings.Join(strings.Fields(why), " ") // one line, for the skip
	if why := c.startSlurmDaemons(t, "plain", false, slurmStartWithin); why != "" {
		t.Fatalf("Slurm does not start: %s", why)
	}
	return c
}

// slurmShortDir is a temporary folder with a short path, for munge's socket.
func slurmShortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "vrslurm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// freeSlurmPort is a TCP port nothing listens on now.
func freeSlurmPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startMunge starts munged with a key, socket, pid file, seed and log of
// its own. munged wants the key owned by its user with mode 0400; --force
// lets it run as root with a socket folder that others cannot enter.
func (c *slurmCluster) startMunge(t *testing.T) {
	t.Helper()
	md := filepath.Join(c.dir, "munge")
	if err := os.Mkdir(md, 0o700); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 1024)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(md, "munge.key")
	if err := os.WriteFile(keyFile, key, 0o400); err != nil {
		t.Fatal(err)
	}
	d := c.start(t, "munged", "munged", "--foreground", "--force", "--key-file="+keyFile, "--socket="+c.munge,
		"--pid-file="+filepath.Join(md, "munged.pid"), "--log-file="+filepath.Join(md, "munged.log"),
		"--seed-file="+filepath.Join(md, "munged.seed"))
	err := c.poll(10*time.Second, []*slurmDaemon{d}, func() error {
		return c.run(5*time.Second, "sh", "-c", `munge -n -S "$1" | unmunge -S "$1"`, "sh", c.munge)
	})
	if err != nil {
		t.Fatalf("munged did not start: %v\n%s", err, slurmTail(filepath.Join(md, "munged.log")))
	}
}

// startSlurmDaemons writes a slurm.conf under c.dir/name and starts slurmctld
// and slurmd with it; it returns "" once a job runs (in a cgroup of its
// own when cgroup is set), else why not in one line, the daemons' logs
// going to the test's log.
func (c *slurmCluster) startSlurmDaemons(t *testing.T, name string, cgroup bool, within time.Duration) string {
	t.Helper()
	dir := filepath.Join(c.dir, name)
	for _, sub := range []string{"spool", "state", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c.conf = filepath.Join(dir, "slurm.conf")
	writeSlurmFile(t, c.conf, c.slurmConf(dir, cgroup))
	writeSlurmFile(t, filepath.Join(dir, "cgroup.conf"), cgroupConf())
	writeSlurmFile(t, filepath.Join(dir, "plugstack.conf"), "")
	c.env = slurmEnv(c.conf)
	ctld := c.start(t, "slurmctld", "slurmctld", "-D", "-i", "-f", c.conf)
	slurmd := c.start(t, "slurmd", "slurmd", "-D", "-N", "localhost", "-f", c.conf)
	check := "true"
	if cgroup {
		// task/cgroup puts each task into .../job_N/step_N/...
		check = "grep -q job_ /proc/self/cgroup"
	}
	start := time.Now()
	err := c.poll(within, []*slurmDaemon{ctld, slurmd}, func() error {
		if out, err := c.output(5*time.Second, "sinfo", "-h", "-N", "-o", "%T"); err != nil || strings.TrimSpace(out) != "idle" {
			return fmt.Errorf("node not idle yet (sinfo: %q, %v)", strings.TrimSpace(out), err)
		}
		return nil
	})
	if err == nil {
		err = c.run(max(time.Second, within-time.Since(start)), "srun", "-N1", "-t", "1", "sh", "-c", check)
	}
	if err != nil {
		logs := []string{filepath.Join(dir, "log", "slurmd.log"), slurmd.log, filepath.Join(dir, "log", "slurmctld.log"), ctld.log}
		t.Logf("Slurm (%s) did not start: %v\n%s", name, err, slurmTail(logs...))
		return fmt.Sprintf("%v%s", err, firstSlurmError(logs...))
	}
	return ""
}

// firstSlurmError is ` (first "error:" line of the logs)`, "" when none.
func firstSlurmError(paths ...string) string {
	for _, p := range paths {
		data, _ := os.ReadFile(p)
		for line := range strings.Lines(string(data)) {
			if _, msg, ok := strings.Cut(line, "error: "); ok && !strings.Contains(msg, "pmix") && !strings.Contains(msg, "state file") {
				return " (" + strings.TrimSpace(msg) + ")"
			}
		}
	}
	return ""
}

// slurmConf is a one-node cluster: node "localhost" with 4 CPUs and 4 GiB
// whatever the machine has (config_overrides), so that the scripts' jobs,
// which testscript runs in parallel, do not queue behind each other on a
// 2-core machine; 500 MiB a CPU unless a job asks (task/cgroup enforces
// it). Jobs run as root; no accounting, no SPANK plugins; files and ports
// of its own.
func (c *slurmCluster) slurmConf(dir string, cgroup bool) string {
	proctrack, task := "proctrack/linuxproc", "task/none"
	if cgroup {
		proctrack, task = "proctrack/cgroup", "task/cgroup"
	}
	lines := []string{
		"ClusterName=vramrun",
		"SlurmctldHost=localhost",
		fmt.Sprintf("SlurmctldPort=%d", c.ports[0]),
		fmt.Sprintf("SlurmdPort=%d", c.ports[1]),
		"SlurmUser=root",
		"SlurmdUser=root",
		"AuthType=auth/munge",
		"CredType=cred/munge",
		"AuthInfo=socket=" + c.munge,
		"MpiDefault=none",
		"ProctrackType=" + proctrack,
		"TaskPlugin=" + task,
		"SelectType=select/cons_tres",
		"SelectTypeParameters=CR_Core_Memory",
		"DefMemPerCPU=500",
		"SlurmdParameters=config_overrides",
		"ReturnToService=2",
		"SchedulerType=sched/backfill",
		"KillWait=5",
		"InactiveLimit=0",
		// sbatch --wait polls every 2 s while MinJobAge/2 is not above 2 s
		// (else it waits 2 s, then 8 s); 4 s still keeps a finished job
		// until its next poll.
		"MinJobAge=4",
		"MailProg=/bin/true",
		"JobCompType=jobcomp/none",
		"JobAcctGatherType=jobacct_gather/none",
		"AccountingStorageType=accounting_storage/none",
		"PlugStackConfig=" + filepath.Join(dir, "plugstack.conf"),
		"SlurmctldPidFile=" + filepath.Join(dir, "slurmctld.pid"),
		"SlurmdPidFile=" + filepath.Join(dir, "slurmd.pid"),
		"SlurmdSpoolDir=" + filepath.Join(dir, "spool"),
		"StateSaveLocation=" + filepath.Join(dir, "state"),
		"SlurmctldLogFile=" + filepath.Join(dir, "log", "slurmctld.log"),
		"SlurmdLogFile=" + filepath.Join(dir, "log", "slurmd.log"),
		"SlurmctldDebug=info",
		"SlurmdDebug=info",
		"NodeName=localhost NodeAddr=127.0.0.1 CPUs=4 RealMemory=4096 State=UNKNOWN",
		"PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
	}
	return strings.Join(lines, "\n") + "\n"
}

// cgroupConf limits each job's RAM to what it asked for; swap too when the
// machine has some, so that a job over its limit is killed, not swapped.
func cgroupConf() string {
	swap := "no"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil && !bytes.Contains(b, []byte("SwapTotal:             0 kB")) {
		swap = "yes"
	}
	return "CgroupPlugin=autodetect\nIgnoreSystemd=yes\nConstrainRAMSpace=yes\nConstrainSwapSpace=" + swap +
		"\nAllowedSwapSpace=0\nConstrainCores=no\nConstrainDevices=no\n"
}

func writeSlurmFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// slurmEnv is this process's environment without any Slurm job's
// variables (a CI job may itself run under Slurm), with SLURM_CONF set.
func slurmEnv(conf string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "SLURM_"), strings.HasPrefix(name, "SBATCH_"), strings.HasPrefix(name, "SRUN_"),
			strings.HasPrefix(name, "SALLOC_"), strings.HasPrefix(name, "SQUEUE_"), strings.HasPrefix(name, "SINFO_"):
			continue
		}
		env = append(env, kv)
	}
	return append(env, "SLURM_CONF="+conf)
}

// start runs a daemon in the foreground, its output in a log of its own.
func (c *slurmCluster) start(t *testing.T, name string, argv ...string) *slurmDaemon {
	t.Helper()
	d := &slurmDaemon{name: name, log: filepath.Join(c.dir, name+"-"+fmt.Sprint(len(c.daemons))+".out"), done: make(chan struct{})}
	out, err := os.Create(d.log)
	if err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(argv[0], argv[1:]...)
	d.cmd.Env = c.env
	if d.cmd.Env == nil {
		d.cmd.Env = slurmEnv(filepath.Join(c.dir, "none.conf"))
	}
	d.cmd.Stdout, d.cmd.Stderr = out, out
	// Its own process group: a ^C to the test does not reach it first.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() {
		d.err = d.cmd.Wait()
		out.Close()
		close(d.done)
	}()
	c.daemons = append(c.daemons, d)
	return d
}

// poll calls ready until it succeeds, failing at once when one of the
// daemons exits, or with ready's last error at the deadline.
func (c *slurmCluster) poll(within time.Duration, daemons []*slurmDaemon, ready func() error) error {
	deadline := time.Now().Add(within)
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 200*time.Millisecond) {
		for _, d := range daemons {
			select {
			case <-d.done:
				return fmt.Errorf("%s exited: %v", d.name, d.err)
			default:
			}
		}
		err := ready()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %v: %w", within, err)
		}
		time.Sleep(delay)
	}
}

// run runs a client command of the cluster with a time limit.
func (c *slurmCluster) run(limit time.Duration, argv ...string) error {
	_, err := c.output(limit, argv...)
	return err
}

func (c *slurmCluster) output(limit time.Duration, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = c.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// stop cancels every job left (a failed script may leave one) and stops
// the daemons, slurmd first.
func (c *slurmCluster) stop() {
	if c.conf != "" && len(c.daemons) > 1 {
		_ = c.run(10*time.Second, "scancel", "--full", "--user=root")
		_ = c.poll(10*time.Second, nil, func() error {
			out, err := c.output(5*time.Second, "squeue", "-h", "-o", "%i")
			if err == nil && strings.TrimSpace(out) != "" {
				return errors.New("jobs left: " + out)
			}
			return err
		})
	}
	c.stopDaemons(func(*slurmDaemon) bool { return true })
}

// stopDaemons ends the daemons that which picks, newest first, by pid:
// SIGTERM, then SIGKILL after 10 s.
func (c *slurmCluster) stopDaemons(which func(*slurmDaemon) bool) {
	var keep []*slurmDaemon
	for i := len(c.daemons) - 1; i >= 0; i-- {
		d := c.daemons[i]
		if !which(d) {
			keep = append([]*slurmDaemon{d}, keep...)
			continue
		}
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(10 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
		}
	}
	c.daemons = keep
}

// slurmTail is the last lines of the files that exist among paths.
func slurmTail(paths ...string) string {
	var b strings.Builder
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		fmt.Fprintf(&b, "== %s\n%s\n", filepath.Base(p), strings.Join(lines[max(0, len(lines)-15):], "\n"))
	}
	return b.String()
}
