"""Peak resident memory of a child process, for the tests that check streaming stays bounded."""

# Put in front of a child script run with ``python -c``. ``peak_kb()`` is VmHWM: the peak resident
# set of this process image (reset at exec, unlike ru_maxrss, which carries the parent's over).
PEAK_KB = r"""
def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
"""
