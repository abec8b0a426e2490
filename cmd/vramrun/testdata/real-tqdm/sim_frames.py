"""Checks that the simulated jobs' bar (examples/simtrain/simgpu_speed.Progress) draws the frames
the real tqdm (Debian's python3-tqdm) draws for the same ticks on the same clock: the training
bars of the simulated HF, Lightning, verl, OpenRLHF and torchtune jobs are that class. Each tick
takes at least tqdm's mininterval (0.1 s), as the simulated jobs' steps do; faster, tqdm draws only
every 0.1 s and the simulation, drawing each tick, says so in its docstring. tqdm draws its
initial frame (no rate yet) and the last one again at close; the simulation draws neither, so
those are left out, as is the padding tqdm writes to blank a longer previous frame.
Prints one line per case; exits 1 at the first case whose frames differ. argv[1]: the simtrain
folder."""

import io
import sys

sys.path.insert(0, sys.argv[1])
import simgpu_speed as sim  # noqa: E402
import tqdm.std  # noqa: E402

clock = [0.0]
tqdm.std.time = lambda: clock[0]
from tqdm import tqdm as Tqdm  # noqa: E402

# Lightning's TQDMProgressBar.BAR_FORMAT: the rate never inverted.
LIGHTNING = "{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_noinv_fmt}{postfix}]"

CASES = [
    # desc, smoothing, ascii, seconds a tick, ticks, loss postfix, Lightning's bar format
    ("", 0.3, True, 0.25, 20, None, False),  # the HF Trainer's bar
    ("train", 0.3, True, 0.25, 20, 2.31, False),
    ("Epoch 0", 0, False, 0.125, 30, None, True),  # Lightning's: smoothing 0, unicode
    ("Epoch 0", 0, False, 2.5, 8, 2.31, True),  # Lightning's, slower than a batch a second
    ("Epoch 1/4", 0.3, False, 2.5, 12, None, False),  # slower than a tick a second: s/it
    ("Train step of epoch 0", 0.3, True, 1.7, 12, 1.25, False),
    ("", 0.3, False, 0.37, 40, None, False),  # an uneven rate: the EMA's rounding
]


def frames(text):
    return [f.rstrip(" ") for f in text.replace("\n", "\r").split("\r") if f.strip()]


def real(desc, smoothing, ascii, dt, total, loss, lightning):
    out = io.StringIO()
    clock[0] = 1000.0
    kwargs = dict(total=total, file=out, ascii=ascii, smoothing=smoothing)
    if desc:
        kwargs["desc"] = desc
    if lightning:
        kwargs["bar_format"] = LIGHTNING
    bar = Tqdm(**kwargs)
    for _ in range(total):
        clock[0] += dt
        if loss is not None:
            bar.set_postfix_str("loss=%.2f" % loss, refresh=False)
        bar.update(1)
    bar.close()
    shown = frames(out.getvalue())
    return shown[1:-1]  # the initial frame, and the last drawn again at close


def simulated(desc, smoothing, ascii, dt, total, loss, lightning):
    out = io.StringIO()
    clock[0] = 1000.0
    bar = sim.Progress(total, desc, out, True, clock=lambda: clock[0], smoothing=smoothing,
                       charset=sim.ASCII if ascii else sim.UNICODE, invert=not lightning)
    for n in range(1, total + 1):
        clock[0] += dt
        bar.show(n, loss=loss)
    bar.close()
    return frames(out.getvalue())


for case in CASES:
    want, got = real(*case), simulated(*case)
    if want != got:
        for i, (w, g) in enumerate(zip(want, got)):
            if w != g:
                print("%r: frame %d: tqdm drew %r, the simulation %r" % (case, i + 1, w, g))
                break
        else:
            print("%r: tqdm drew %d frames, the simulation %d" % (case, len(want), len(got)))
        sys.exit(1)
    print("%r: %d frames alike" % (case, len(want)))
