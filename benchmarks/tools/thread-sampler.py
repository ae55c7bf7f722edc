#!/usr/bin/env python3
"""Where the threads of a cross-node run spend their time: runs one CrossNodeThroughput trial and,
during its measurement, samples both JVMs' threads from /proc (Linux only).

Usage (after ./mvnw -q install -DskipTests; alone on the machine):
    python3 benchmarks/tools/thread-sampler.py RUNTIME [JAR]
RUNTIME is harbor, grpc or handoff; the trial is 1 pair, 8 x 3 s warm-up and 14 x 3 s measurement.

Printed: the score and CPU per message (the benchmark's own lines); for each thread that used more than
2 % of a core over 10 s, that share, its time waiting for a core (schedstat) and its voluntary and
involuntary context switches per second; the machine's idle share (/proc/stat); and, from samples of
each busy thread's state and virtual CPU every 5 ms for 10 s, how often a given number of them were
runnable at once and how they sat on the two CPUs ("(0, 2)": none runnable on one, two on the other).
"""
import collections
import os
import re
import subprocess
import sys
import time

JAVA = os.path.join(os.environ.get("JAVA_HOME", "/usr/lib/jvm/temurin-25-jdk-amd64"), "bin", "java")
runtime = sys.argv[1]
jar = sys.argv[2] if len(sys.argv) > 2 else "benchmarks/target/benchmarks.jar"
log = f"/tmp/thread-sampler-{runtime}.log"
with open(log, "w") as out:
    bench = subprocess.Popen([JAVA, "-jar", jar, "CrossNodeThroughput", "-p", "runtime=" + runtime, "-p", "pairs=1",
                              "-wi", "8", "-i", "14", "-f", "1"], stdout=out, stderr=subprocess.STDOUT)
time.sleep(42)  # JVM starts and warm-up: the samples fall inside the measurement


def jvms():
    found = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{pid}/cmdline").read()
        except OSError:
            continue
        if "ForkedMain" in cmd:
            found["send"] = pid
        elif "RemoteNode" in cmd and "java" in cmd:
            found["recv"] = pid
    return found


def thread(pid, tid):
    st = open(f"/proc/{pid}/task/{tid}/stat").read()
    name = st[st.index("(") + 1:st.rindex(")")]
    f = st[st.rindex(")") + 2:].split()
    status = open(f"/proc/{pid}/task/{tid}/status").read()
    switches = [int(re.search(rf"^{k}_ctxt_switches:\s+(\d+)", status, re.M).group(1)) for k in ("voluntary", "nonvoluntary")]
    waited = int(open(f"/proc/{pid}/task/{tid}/schedstat").read().split()[1])
    return {"name": name, "state": f[0], "ticks": int(f[11]) + int(f[12]), "cpu": int(f[36]),
            "vcsw": switches[0], "nvcsw": switches[1], "waited": waited}


def snapshot(pids):
    snap = {}
    for side, pid in pids.items():
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                snap[(side, pid, tid)] = thread(pid, tid)
            except (OSError, AttributeError):
                pass  # the thread ended meanwhile
    return snap


def machine():
    return [int(x) for x in open("/proc/stat").readline().split()[1:]]


pids = jvms()
m0, a = machine(), snapshot(pids)
time.sleep(10)
m1, b = machine(), snapshot(pids)
busy = [k for k in b if k in a and b[k]["ticks"] - a[k]["ticks"] > 20]
samples = []
start = time.time()
while time.time() - start < 10:
    row = {}
    for k in busy:
        try:
            t = thread(k[1], k[2])
            row[k] = (t["state"], t["cpu"])
        except (OSError, AttributeError):
            pass
    samples.append(row)
    time.sleep(0.005)
bench.wait()

for line in open(log):
    if re.match(r"CrossNodeThroughput.send|.*CPU per message", line):
        print(line.rstrip())
for k in sorted(busy):
    x, y = a[k], b[k]
    print(f"{k[0]} {y['name']:24s} cpu {(y['ticks'] - x['ticks']) / 10:5.1f} %  waiting for a core {(y['waited'] - x['waited']) / 1e8:5.1f} %"
          f"  switches/s {(y['vcsw'] - x['vcsw']) / 10:7.0f} voluntary {(y['nvcsw'] - x['nvcsw']) / 10:6.0f} involuntary")
d = [y - x for x, y in zip(m0, m1)]
print(f"machine idle {d[3] / sum(d) * 100:.1f} % of both CPUs")
runnable = collections.Counter(sum(1 for s, _ in row.values() if s == "R") for row in samples)
print(f"{len(samples)} samples; busy threads runnable at once: {sorted(runnable.items())}")
per_cpu = collections.Counter()
for row in samples:
    on = [sum(1 for s, c in row.values() if s == "R" and c == cpu) for cpu in (0, 1)]
    per_cpu[(min(on), max(on))] += 1
print(f"runnable on the two CPUs (fewer, more): {sorted(per_cpu.items())}")
