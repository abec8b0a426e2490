"""Draws one training job's progress bars with the real tqdm (Debian's python3-tqdm), on a clock
that advances by a fixed step, so that the rate tqdm shows is known exactly: TestRealTqdm reads
what this prints with the progress patterns vramrun's plugins declare.

The case is JSON in argv[1]:
  total, dt          the training bar's length and the seconds each tick takes
  kwargs             tqdm's constructor arguments as the tool passes them (desc, dynamic_ncols,
                     smoothing, bar_format, ncols, ascii, ...)
  iterate            drive the bar as an iterator (for batch in tqdm(loader)), not with update(1)
  desc_each          set_description(desc_each.format(step=...)) after each update (torchtune)
  postfix            set_postfix(**postfix) before each update (Lightning, OpenRLHF)
  outer              desc of an outer bar the training bar nests under (OpenRLHF's epoch bar)
  eval_every, eval_total, eval_dt
                     an evaluation bar (leave=False, nested under the training bar while it is
                     open, as the HF Trainer's prediction bar) drawn every eval_every steps
  log_every          a log dict written with tqdm.write between ticks, as the HF Trainer logs
"""

import json
import sys

import tqdm.std

case = json.loads(sys.argv[1])
clock = [1000.0]
tqdm.std.time = lambda: clock[0]  # tqdm reads its clock from the module at each bar's start
from tqdm import tqdm as Tqdm  # noqa: E402

total, dt = case["total"], case["dt"]
outer = Tqdm(total=1, desc=case["outer"], file=sys.stderr) if case.get("outer") else None


def evaluate():
    # The evaluation bar keeps a clock of its own, so that the training bar's rate stays exact
    # (on a real job the evaluation's time lowers it for a few ticks).
    eval_clock = [0.0]
    tqdm.std.time = lambda: eval_clock[0]
    bar = Tqdm(total=case["eval_total"], leave=False, dynamic_ncols=True, file=sys.stderr)
    tqdm.std.time = lambda: clock[0]
    for _ in range(case["eval_total"]):
        eval_clock[0] += case["eval_dt"]
        bar.update(1)
    bar.close()


def after(step, bar):
    if case.get("desc_each"):
        bar.set_description(case["desc_each"].format(step=step))
    if case.get("eval_every") and step % case["eval_every"] == 0:
        evaluate()
    if case.get("log_every") and step % case["log_every"] == 0:
        bar.write(str({"loss": 2.31, "learning_rate": 5e-05, "epoch": round(step / total, 2)}))


if case.get("iterate"):
    bar = Tqdm(range(total), file=sys.stderr, **case.get("kwargs", {}))
    step = 0
    for _ in bar:
        step += 1
        after(step, bar)
        clock[0] += dt  # the next batch's work, before the iterator ticks again
else:
    bar = Tqdm(total=total, file=sys.stderr, **case.get("kwargs", {}))
    for step in range(1, total + 1):
        clock[0] += dt
        if case.get("postfix"):
            bar.set_postfix(refresh=False, **case["postfix"])
        bar.update(1)
        after(step, bar)
    bar.close()
if outer:
    outer.update(1)
    outer.close()
