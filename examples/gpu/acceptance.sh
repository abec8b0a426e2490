#!/usr/bin/env bash
# Real-GPU acceptance for vramrun: each scenario runs one of the example
# training scripts under vramrun while a helper process holds all but a few
# GiB of the GPU, then checks that the job ran out of memory, that vramrun's
# fixes made it fit, that the effective batch was kept, and that NVML
# measured the job's peak VRAM. `vramrun doctor --json` must report no
# problem. The tune scenario runs `vramrun tune --json` instead: a trial must
# fit and win with a measured speed and peak, one must run out of memory,
# every trial must keep the effective batch, and the job's own --output_dir
# must never be created.
#
# Go is not needed on the GPU machine: build the binary beforehand, on a
# machine whose glibc is not newer than the GPU machine's (it is dynamically
# linked with cgo, for NVML), and carry it along:
#   bash examples/gpu/build.sh        # writes ./vramrun at the repository root
#
# Usage, from the repository root:
#   bash examples/gpu/acceptance.sh [SCENARIO...]     (default: all; --list names them)
#
# Environment:
#   VRAMRUN               the vramrun binary (default ./vramrun)
#   PYTHON                the jobs' Python (default python3)
#   OUT                   where logs, results.jsonl and summary.md go (default examples/gpu/out)
#   ACCEPTANCE_BUDGET_S   seconds for the whole run; a scenario that no longer fits is skipped
#                         and each timeout is cut to what is left (default: no budget)
#   ACCEPTANCE_TIMEOUT_S  one timeout for every scenario instead of its own
#   ACCEPTANCE_LEAVE_GIB  GiB the holder leaves free, instead of each scenario's own
#   ACCEPTANCE_HOLD=0     run without the VRAM holder (a GPU small enough already)
#
# Results are written as each scenario ends, so a run that is cut short keeps
# what it finished. Exit status: 0 when every scenario passed, 1 when one did
# not, 2 for a usage error.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ALL_SCENARIOS=(doctor torch torch-ckpt hf hf-eval hf-optim tune lightning jax)

usage() {
	sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

# scenario_def NAME sets what one scenario runs and expects. Sizes are for an
# 80 GB H100: LEAVE_GIB is what the holder leaves free, and each script's
# default batch needs several times that. TUNE, when set, are the trial flags
# of a scenario that runs `vramrun tune --json` instead, and OUTPUT_DIR the
# job's own --output_dir, which tune must not create.
scenario_def() {
	SCRIPT="" ARGS=() LADDER="" PROFILE="" LEAVE_GIB=12 TIMEOUT_S=150 EXPECT_FIXES="" EXPECT_EFFECTIVE=""
	JAX_LIMIT_GIB="" DESCRIPTION="" TUNE=() OUTPUT_DIR=""
	local hf=(--output_dir "$WORK/hf-$1" --report_to none --save_strategy no --logging_steps 1
		--disable_tqdm true --max_steps 4)
	case $1 in
	doctor)
		DESCRIPTION="vramrun doctor --json sees the GPU through NVML and reports no problem" ;;
	torch)
		DESCRIPTION="plain PyTorch, default ladder: allocator, --amp --amp-dtype, smaller batch with accumulation"
		SCRIPT=torch_lm.py ARGS=(--steps 4) TIMEOUT_S=120
		EXPECT_FIXES=allocator,mixed_precision,batch_size EXPECT_EFFECTIVE=64 ;;
	torch-ckpt)
		DESCRIPTION="plain PyTorch, gradient checkpointing first (--grad-checkpointing)"
		SCRIPT=torch_lm.py ARGS=(--steps 4) LADDER=grad_checkpointing,batch_size TIMEOUT_S=120
		EXPECT_FIXES=grad_checkpointing EXPECT_EFFECTIVE=64 ;;
	hf)
		DESCRIPTION="HF Trainer, default ladder: allocator, --bf16, per-device batch with accumulation"
		SCRIPT=hf_trainer.py ARGS=("${hf[@]}" --per_device_train_batch_size 64 --gradient_accumulation_steps 1)
		EXPECT_FIXES=allocator,mixed_precision,batch_size EXPECT_EFFECTIVE=64 TIMEOUT_S=180 ;;
	hf-eval)
		DESCRIPTION="HF Trainer, out of memory in evaluation: smaller --per_device_eval_batch_size only"
		SCRIPT=hf_trainer.py ARGS=("${hf[@]}" --per_device_train_batch_size 4 --eval_strategy steps --eval_steps 2
			--per_device_eval_batch_size 256)
		EXPECT_FIXES=eval_batch_size EXPECT_EFFECTIVE=4 TIMEOUT_S=180 ;;
	hf-optim)
		DESCRIPTION="HF Trainer, low-memory optimizer and --gradient_checkpointing first"
		SCRIPT=hf_trainer.py ARGS=("${hf[@]}" --per_device_train_batch_size 64)
		LADDER=optimizer_8bit,grad_checkpointing,batch_size
		EXPECT_FIXES=optimizer_8bit,grad_checkpointing EXPECT_EFFECTIVE=64 TIMEOUT_S=180 ;;
	tune)
		# The job prints its progress bar and runs long enough for each trial's readings.
		DESCRIPTION="vramrun tune, HF Trainer: trials of micro-batch x accumulation and checkpointing, the fastest that fits wins"
		SCRIPT=hf_trainer.py OUTPUT_DIR=$WORK/hf-tune
		ARGS=(--output_dir "$OUTPUT_DIR" --report_to none --save_strategy no --logging_steps 1 --max_steps 200
			--per_device_train_batch_size 64 --gradient_accumulation_steps 1)
		TUNE=(--trials 4 --trial-readings 5 --trial-time 60s) TIMEOUT_S=240 ;;
	lightning)
		DESCRIPTION="Lightning with argparse flags named by the lightning profile: allocator, --precision, batch"
		SCRIPT=lightning_train.py ARGS=(--batch_size 64 --max_steps 4) PROFILE=lightning
		EXPECT_FIXES=allocator,mixed_precision,batch_size EXPECT_EFFECTIVE=64 TIMEOUT_S=180 ;;
	jax)
		DESCRIPTION="JAX started with a 3 GiB memory fraction: the allocator fix raises it to .95"
		SCRIPT=jax_train.py ARGS=(--batch_size 64 --steps 4) LEAVE_GIB=16 JAX_LIMIT_GIB=3
		EXPECT_FIXES=allocator EXPECT_EFFECTIVE=64 ;;
	*)
		return 1 ;;
	esac
	if [[ -n ${ACCEPTANCE_TIMEOUT_S:-} ]]; then TIMEOUT_S=$ACCEPTANCE_TIMEOUT_S; fi
	if [[ -n ${ACCEPTANCE_LEAVE_GIB:-} ]]; then LEAVE_GIB=$ACCEPTANCE_LEAVE_GIB; fi
	return 0
}

say() { printf 'acceptance: %s\n' "$*" >&2; }

now_s() { date +%s.%N; }

elapsed_since() { awk -v a="$1" -v b="$(now_s)" 'BEGIN { printf "%.1f", b - a }'; }

# remaining_s prints the seconds left of ACCEPTANCE_BUDGET_S (empty: no budget).
remaining_s() {
	[[ -n ${ACCEPTANCE_BUDGET_S:-} ]] || return 0
	awk -v budget="$ACCEPTANCE_BUDGET_S" -v start="$RUN_START" -v now="$(now_s)" \
		'BEGIN { printf "%d", budget - (now - start) }'
}

# The VRAM holder: started before a scenario, ended after it.
HOLDER_PID=""

start_holder() { # NAME LEAVE_GIB
	local pidfile="$WORK/$1.holder.pid" info="$WORK/$1.holder.json" i
	rm -f "$pidfile" "$info"
	env -u PYTORCH_CUDA_ALLOC_CONF -u PYTORCH_ALLOC_CONF \
		"$PYTHON" "$HERE/hold_vram.py" --leave-gib "$2" --pid-file "$pidfile" --info-file "$info" \
		>"$OUT/$1.holder.log" 2>&1 &
	HOLDER_PID=$!
	# The holder writes its pid file once the memory is held.
	for ((i = 0; i < 600; i++)); do
		if [[ -s $pidfile ]]; then
			HOLDER_INFO=$info
			return 0
		fi
		if ! kill -0 "$HOLDER_PID" 2>/dev/null; then
			wait "$HOLDER_PID" 2>/dev/null
			HOLDER_PID=""
			return 1
		fi
		sleep 0.2
	done
	stop_holder
	return 1
}

stop_holder() {
	[[ -n $HOLDER_PID ]] || return 0
	kill -TERM "$HOLDER_PID" 2>/dev/null
	wait "$HOLDER_PID" 2>/dev/null
	HOLDER_PID=""
}

# gpu_total_bytes prints the GPU's memory: from the holder when it ran, else
# from nvidia-smi (empty when neither knows).
gpu_total_bytes() {
	if [[ -n ${HOLDER_INFO:-} && -s $HOLDER_INFO ]]; then
		"$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["total_bytes"])' "$HOLDER_INFO"
	elif command -v nvidia-smi >/dev/null; then
		nvidia-smi --query-gpu=memory.total --format=csv,noheader,nounits -i 0 2>/dev/null |
			awk 'NR == 1 { printf "%d\n", $1 * 1048576 }'
	fi
}

add_row() { # JSON row on stdin
	local row
	row=$(cat)
	[[ -n $row ]] || return 0
	printf '%s\n' "$row" >>"$RESULTS"
	"$PYTHON" -c 'import json, sys; r = json.loads(sys.argv[1]); print("acceptance: %s: %s%s" % (r["scenario"], r["result"], "".join("\n  - " + p for p in r.get("problems", []))))' "$row" >&2
	write_summary
}

write_summary() {
	{
		cat "$OUT/environment.txt"
		echo
		"$PYTHON" "$HERE/check_results.py" table "$RESULTS"
	} >"$OUT/summary.md.tmp" && mv "$OUT/summary.md.tmp" "$OUT/summary.md"
}

run_doctor() {
	local started status
	started=$(now_s)
	"$VRAMRUN" doctor --json --python "$PYTHON" >"$OUT/doctor.json" 2>"$OUT/doctor.stderr.log"
	status=$?
	"$PYTHON" "$HERE/check_results.py" doctor --json "$OUT/doctor.json" --exit-status "$status" \
		--seconds "$(elapsed_since "$started")" | add_row
}

# run_id_of EVENTS [TUNE_JSON] prints vramrun's run id: from tune's JSON when
# given and readable, else from the run_started event.
run_id_of() {
	"$PYTHON" - "$@" 2>/dev/null <<'EOF'
import json, sys
try:
    run_id = json.load(open(sys.argv[2])).get("run_id") if len(sys.argv) > 2 else None
except (OSError, ValueError, AttributeError):
    run_id = None
if not run_id:
    for line in open(sys.argv[1]):
        e = json.loads(line)
        if e.get("event") == "run_started":
            run_id = e.get("run_id")
            break
print(run_id or "")
EOF
}

run_scenario() { # NAME
	local name=$1 timeout_s=$TIMEOUT_S left started status secs timed_out=() flags=() plan=() env_args=() check=() run_id
	local events="$OUT/$name.events.jsonl" stdout="$OUT/$name.stdout.log" stderr="$OUT/$name.stderr.log"
	# With --json, tune's stdout is the JSON alone and the job's output goes to stderr.
	if ((${#TUNE[@]})); then stdout="$OUT/$name.json"; fi
	left=$(remaining_s)
	if [[ -n $left ]]; then
		if ((left < 45)); then
			"$PYTHON" "$HERE/check_results.py" skip --scenario "$name" \
				--reason "not run: ${left}s of ACCEPTANCE_BUDGET_S left" | add_row
			return
		fi
		if ((left - 15 < timeout_s)); then timeout_s=$((left - 15)); fi
	fi
	say "$name: $DESCRIPTION (timeout ${timeout_s}s)"
	rm -f "$events" "$stdout" "$stderr"
	HOLDER_INFO=""
	if [[ ${ACCEPTANCE_HOLD:-1} != 0 ]] && ! start_holder "$name" "$LEAVE_GIB"; then
		"$PYTHON" "$HERE/check_results.py" skip --scenario "$name" \
			--reason "not run: the VRAM holder failed: $(tail -n 1 "$OUT/$name.holder.log")" | add_row
		return
	fi
	if [[ -n $JAX_LIMIT_GIB ]]; then
		local total fraction
		total=$(gpu_total_bytes)
		if [[ -n $total ]]; then
			fraction=$(awk -v l="$JAX_LIMIT_GIB" -v t="$total" 'BEGIN { printf "%.4f", l * 1073741824 / t }')
			env_args+=(XLA_PYTHON_CLIENT_PREALLOCATE=false XLA_PYTHON_CLIENT_MEM_FRACTION="$fraction")
		fi
	fi
	if [[ -n $LADDER ]]; then plan+=(--ladder "$LADDER"); fi
	if [[ -n $PROFILE ]]; then plan+=(--profile "$PROFILE"); fi
	flags=(--no-learn --gpu-poll 250ms --pty never -v --events "$events" "${plan[@]}")
	if ((${#TUNE[@]})); then
		flags=(tune --json "${TUNE[@]}" "${flags[@]}")
		rm -rf "$OUTPUT_DIR"
	else
		flags=(--max-attempts 8 "${flags[@]}")
	fi
	# What vramrun would do, for the logs: the ladder as this command can take it.
	(cd "$HERE" && env "${env_args[@]}" "$VRAMRUN" "${plan[@]}" plan --json -- "$PYTHON" "$SCRIPT" "${ARGS[@]}") \
		>"$OUT/$name.plan.json" 2>"$OUT/$name.plan.stderr.log"
	started=$(now_s)
	(cd "$HERE" && exec env "${env_args[@]}" timeout -k 15 "$timeout_s" \
		"$VRAMRUN" "${flags[@]}" -- "$PYTHON" "$SCRIPT" "${ARGS[@]}") \
		</dev/null >"$stdout" 2>"$stderr"
	status=$?
	secs=$(elapsed_since "$started")
	if [[ -n $HOLDER_INFO ]]; then cp "$HOLDER_INFO" "$OUT/$name.holder.json"; fi
	stop_holder
	if ((status == 124)) || { ((status == 137)) && awk -v s="$secs" -v t="$timeout_s" 'BEGIN { exit !(s >= t) }'; }; then
		timed_out=(--timed-out)
	fi
	# Keep vramrun's own record of the run (attempt logs, GPU samples; tune's trial folders).
	if ((${#TUNE[@]})); then
		run_id=$(run_id_of "$events" "$stdout")
	else
		run_id=$(run_id_of "$events")
	fi
	rm -rf "$OUT/$name.run"
	if [[ -n $run_id && -d $HERE/.vramrun/runs/$run_id ]]; then
		cp -r "$HERE/.vramrun/runs/$run_id" "$OUT/$name.run" 2>/dev/null
	fi
	if ((${#TUNE[@]})); then
		check=(tune --scenario "$name" --json "$stdout" --output-dir "$OUTPUT_DIR")
	else
		check=(row --scenario "$name" --events "$events" --stdout "$stdout")
		if [[ -n $EXPECT_FIXES ]]; then check+=(--expect-fixes "$EXPECT_FIXES"); fi
		if [[ -n $EXPECT_EFFECTIVE ]]; then check+=(--expect-effective "$EXPECT_EFFECTIVE"); fi
	fi
	"$PYTHON" "$HERE/check_results.py" "${check[@]}" --exit-status "$status" --seconds "$secs" "${timed_out[@]}" |
		add_row
}

write_environment() {
	{
		echo "# vramrun real-GPU acceptance"
		echo
		echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "- vramrun: $("$VRAMRUN" version 2>&1 | head -n 1)"
		if command -v nvidia-smi >/dev/null; then
			nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null |
				sed 's/^/- GPU: /'
		else
			echo "- GPU: nvidia-smi not found"
		fi
		"$PYTHON" - <<'EOF'
import platform
from importlib import metadata

names = ("torch", "transformers", "accelerate", "lightning", "jax", "jaxlib")
found = []
for name in names:
    try:
        found.append(f"{name} {metadata.version(name)}")
    except metadata.PackageNotFoundError:
        found.append(f"{name} missing")
print(f"- Python {platform.python_version()}: " + ", ".join(found))
EOF
	} >"$OUT/environment.txt" 2>&1
}

list_scenarios() {
	local name
	WORK=/nonexistent
	for name in "${ALL_SCENARIOS[@]}"; do
		scenario_def "$name"
		printf '%-11s %s\n' "$name" "$DESCRIPTION"
	done
}

main() {
	local selected=() name
	for name in "$@"; do
		case $name in
		-h | --help) usage; return 0 ;;
		--list) list_scenarios; return 0 ;;
		all) selected+=("${ALL_SCENARIOS[@]}") ;;
		*)
			WORK=/nonexistent
			if ! scenario_def "$name"; then
				say "unknown scenario '$name' (known: ${ALL_SCENARIOS[*]}, all)"
				return 2
			fi
			selected+=("$name") ;;
		esac
	done
	if ((${#selected[@]} == 0)); then selected=("${ALL_SCENARIOS[@]}"); fi

	VRAMRUN=${VRAMRUN:-./vramrun}
	if [[ $VRAMRUN != */* ]]; then VRAMRUN=$(command -v "$VRAMRUN" || echo "$VRAMRUN"); fi
	if [[ ! -x $VRAMRUN && $VRAMRUN == ./vramrun && -x $ROOT/vramrun ]]; then VRAMRUN=$ROOT/vramrun; fi
	if [[ ! -x $VRAMRUN ]]; then
		say "no vramrun binary at '$VRAMRUN': build it with 'bash examples/gpu/build.sh' or set VRAMRUN"
		return 2
	fi
	VRAMRUN=$(cd "$(dirname "$VRAMRUN")" && pwd)/$(basename "$VRAMRUN")
	if ! "$VRAMRUN" version >/dev/null 2>&1; then
		say "'$VRAMRUN version' fails on this machine:"
		"$VRAMRUN" version 2>&1 | head -n 3 >&2
		say "a glibc error means the binary was built on a newer system: see examples/gpu/build.sh"
		return 2
	fi
	PYTHON=${PYTHON:-python3}
	if ! PYTHON=$(command -v "$PYTHON"); then
		say "no Python interpreter '${PYTHON}'"
		return 2
	fi
	if ! command -v timeout >/dev/null; then
		say "the timeout command (coreutils) is missing"
		return 2
	fi

	OUT=${OUT:-$HERE/out}
	mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd) || return 2
	RESULTS=$OUT/results.jsonl
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/vramrun-acceptance.XXXXXX") || return 2
	trap 'stop_holder; rm -rf "$WORK"' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	RUN_START=$(now_s)
	write_environment
	say "results go to $OUT"

	for name in "${selected[@]}"; do
		scenario_def "$name"
		if [[ $name == doctor ]]; then
			run_doctor
		else
			run_scenario "$name"
		fi
	done

	echo
	cat "$OUT/summary.md"
	# The exit status: did the last row of every selected scenario pass?
	"$PYTHON" - "$RESULTS" "${selected[@]}" <<'EOF'
import json, sys
last = {}
try:
    lines = open(sys.argv[1]).read().splitlines()
except OSError:
    lines = []
for line in lines:
    if line.strip():
        row = json.loads(line)
        last[row["scenario"]] = row["result"]
sys.exit(0 if all(last.get(name) == "PASS" for name in sys.argv[2:]) else 1)
EOF
}

main "$@"
