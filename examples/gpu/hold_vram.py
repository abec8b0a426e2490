"""Holds all but N GiB of one GPU's memory until it is ended.

A memory cap that every framework and NVML see alike: this process takes the
memory with ordinary CUDA allocations, as another job on a shared GPU would,
so PyTorch, JAX and vramrun's NVML sampling all find only N GiB free.

  python3 hold_vram.py --leave-gib 12 --pid-file /tmp/hold.pid [--info-file /tmp/hold.json]

The pid file is written (atomically) only once the memory is held, so a
caller waits for it to appear before starting the job. The info file, when
asked for, is one JSON object: pid, device, total_bytes, held_bytes,
free_bytes (free after holding). SIGTERM or SIGINT ends the holder and
releases the memory; it removes its pid file on the way out.
"""

import argparse
import json
import os
import signal
import sys

GIB = 1 << 30
MIB = 1 << 20


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="hold_vram.py", description="Hold all but N GiB of a GPU's memory until ended.")
    p.add_argument("--leave-gib", type=float, required=True, help="GiB to leave free")
    p.add_argument("--pid-file", required=True, help="written once the memory is held")
    p.add_argument("--info-file", help="JSON with total, held and free bytes")
    p.add_argument("--device", type=int, default=0, help="CUDA device index (default 0)")
    p.add_argument("--chunk-mib", type=int, default=1024, help="allocation size (default 1024 MiB)")
    args = p.parse_args(argv)
    if args.leave_gib < 0:
        p.error(f"--leave-gib must not be negative, not {args.leave_gib}")
    if args.chunk_mib < 2:
        p.error(f"--chunk-mib must be at least 2, not {args.chunk_mib}")
    return args


def write_atomically(path, text):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def chunk_sizes(to_hold, chunk):
    """The allocation sizes that add up to to_hold, rounded down to whole
    2 MiB pages (the CUDA allocation granularity), chunk bytes at most each."""
    to_hold -= to_hold % (2 * MIB)
    sizes = []
    while to_hold > 0:
        n = min(chunk, to_hold)
        sizes.append(n)
        to_hold -= n
    return sizes


def hold(args):
    import torch  # only here, so that --help and the unit tests need no torch

    if not torch.cuda.is_available():
        raise SystemExit("hold_vram: no CUDA device is visible (torch.cuda.is_available() is False)")
    device = torch.device("cuda", args.device)
    free, total = torch.cuda.mem_get_info(device)
    leave = int(args.leave_gib * GIB)
    blocks = []
    for n in chunk_sizes(max(free - leave, 0), args.chunk_mib * MIB):
        blocks.append(torch.empty(n, dtype=torch.uint8, device=device))
    torch.cuda.synchronize(device)
    free_after, _ = torch.cuda.mem_get_info(device)
    held = sum(b.numel() for b in blocks)
    return blocks, {"pid": os.getpid(), "device": args.device, "total_bytes": total,
                    "held_bytes": held, "free_bytes": free_after}


def main(argv=None):
    args = parse_args(argv)
    # Blocked from the start and taken with sigwait: a signal that arrives
    # while the memory is being taken is kept and ends the holder right after.
    ending = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, ending)
    blocks, info = hold(args)
    if args.info_file:
        write_atomically(args.info_file, json.dumps(info) + "\n")
    write_atomically(args.pid_file, f"{info['pid']}\n")
    print(f"hold_vram: holding {info['held_bytes'] / GIB:.2f} GiB of {info['total_bytes'] / GIB:.2f} GiB "
          f"on GPU {args.device}; {info['free_bytes'] / GIB:.2f} GiB free", flush=True)
    try:
        signal.sigwait(ending)
    finally:
        try:
            os.remove(args.pid_file)
        except FileNotFoundError:
            pass
    del blocks
    return 0


if __name__ == "__main__":
    sys.exit(main())
