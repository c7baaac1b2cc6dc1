"""Drives one console in tmux and prints what benches/console_idle.sh measures (see there).

Each measurement polls `tmux capture-pane` in a tight loop, so its figures include one
`send-keys` and at least one `capture-pane` (a few ms each): upper bounds on the console's own
latency. The first frame is polled every POLL_MS (environment, default 5) from FIRST_POLL_MS
(default 100) after the start instead: each poll starts a tmux client (about 2.5 ms of CPU),
and a tight loop of them took most of a core from the console's own start on a 2-core machine.
The figure stays an upper bound: late by up to POLL_MS, and never below FIRST_POLL_MS.
"""
import os
import statistics
import subprocess
import sys
import time

sock, binary, config, data, n, secs, mode = sys.argv[1:8]
n, secs = int(n), float(secs)
session = f"c-{mode}"


def tmux(*args, check=True):
    return subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True, check=check)


def pane():
    return tmux("capture-pane", "-p", "-t", session, check=False).stdout


POLL = float(os.environ.get("POLL_MS", "5")) / 1000
FIRST_POLL = float(os.environ.get("FIRST_POLL_MS", "100")) / 1000


def wait(what, test, timeout=120.0, poll=0.0, first=0.0):
    t0 = time.perf_counter()
    time.sleep(first)
    while time.perf_counter() - t0 < timeout:
        screen = pane()
        if test(screen):
            return time.perf_counter(), screen
        if poll:
            time.sleep(poll)
    sys.exit(f"{mode}: gave up waiting for {what}; the pane:\n{pane()}")


def selected(screen):
    """The connector id on the highlighted row, if one shows."""
    for line in screen.splitlines():
        if "▶" in line:
            for word in line.split():
                if word.startswith("c") and word[1:6].isdigit():
                    return word[:6]
    return None


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


command = f"exec {binary} --config {config} --data-dir {data}"
# STARTS=K (environment): the start is timed K times (the console quit and started again a
# second apart), the other figures on the last one. One start on a machine shared with a
# daemon varies by tens of ms with what the daemon is doing at that moment.
starts = []
for k in range(max(1, int(os.environ.get("STARTS", "1")))):
    if k > 0:
        tmux("send-keys", "-t", session, "q")
        wait("the console to quit", lambda s: f"connections ({n})" not in s, 10)
        tmux("kill-session", "-t", session, check=False)
        time.sleep(1)
    t0 = time.perf_counter()
    tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", command)
    t1, _ = wait("the first frame", lambda s: f"connections ({n})" in s, poll=POLL,
                 first=FIRST_POLL)
    starts.append((t1 - t0) * 1000)
pid = int(tmux("display-message", "-p", "-t", session, "#{pane_pid}").stdout.strip())
print(f"{mode}, {n} connections:")
if len(starts) == 1:
    print(f"  start to first frame: {starts[0]:.0f} ms")
else:
    print(f"  start to first frame: median {statistics.median(starts):.0f} ms, "
          f"min {min(starts):.0f}, max {max(starts):.0f} ({len(starts)} starts: "
          f"{', '.join(f'{x:.0f}' for x in starts)})")
if mode == "follower":
    wait("the header saying another process leads", lambda s: "another process leads" in s, 30)

time.sleep(10)
hz = os.sysconf("SC_CLK_TCK")
c0, s0 = cpu_ticks(pid), time.perf_counter()
time.sleep(secs)
c1, s1 = cpu_ticks(pid), time.perf_counter()
print(f"  idle CPU over {s1 - s0:.0f} s: {100 * (c1 - c0) / hz / (s1 - s0):.2f} % of a core; "
      f"RSS {rss_mb(pid):.0f} MB")

times = []
for k in range(20):
    before = selected(pane())
    t0 = time.perf_counter()
    tmux("send-keys", "-t", session, "j")
    t1, _ = wait("the selection to move", lambda s: selected(s) not in (None, before), 10)
    times.append((t1 - t0) * 1000)
    time.sleep(0.05)
print(f"  keypress (j) to frame: median {statistics.median(times):.1f} ms, "
      f"worst {max(times):.1f} ms (20 presses)")

tmux("send-keys", "-t", session, "g")  # to the top
wait("the top row selected", lambda s: selected(s) == "c00000", 10)
t0 = time.perf_counter()
tmux("send-keys", "-t", session, *(["j"] * 50))
t1, _ = wait("the 50th row selected", lambda s: selected(s) == "c00050", 30)
print(f"  50 x j to frame: {(t1 - t0) * 1000:.0f} ms")


def alternate_on():
    out = tmux("display-message", "-p", "-t", session, "#{alternate_on}", check=False)
    return out.returncode == 0 and out.stdout.strip() == "1"


def alive():
    """Running: not gone and not a zombie (exited, waiting for whoever reaps it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


t0 = time.perf_counter()
tmux("send-keys", "-t", session, "q")
restored = None
while alive() and time.perf_counter() - t0 < 120:
    if restored is None and not alternate_on():
        restored = time.perf_counter()
gone = time.perf_counter()
restored = restored or gone
print(f"  q to terminal restored: {(restored - t0) * 1000:.0f} ms; "
      f"q to process gone: {(gone - t0) * 1000:.0f} ms")
