#!/usr/bin/env python3
"""Harbor against an anchor in adjacent runs: alternates single-fork CrossNodeThroughput runs of two
runtimes and prints each run's score and CPU per message, then the ratio of each adjacent pair and the
median ratio. On this machine kind the level a cross-node run settles at moves with the machine, for
every runtime alike and minutes apart (BENCHMARKS.md, "what moves the 1-pair level"); a ratio taken
from two runs next to each other, repeated, says more than one run of each.

Usage (after ./mvnw -q install -DskipTests; alone on the machine):
    python3 benchmarks/tools/alternate.py [--pairs N] [--rounds R] [--jar JAR] RUNTIME ANCHOR
RUNTIME and ANCHOR are CrossNodeThroughput runtimes (harbor, grpc, handoff, raw, artery). Each run is
`-wi 8 -i 5 -f 1`, about 45 s; R rounds (default 6) take R x 2 runs.
"""
import argparse
import os
import re
import statistics
import subprocess
import time

parser = argparse.ArgumentParser()
parser.add_argument("runtime")
parser.add_argument("anchor")
parser.add_argument("--pairs", type=int, default=1)
parser.add_argument("--rounds", type=int, default=6)
parser.add_argument("--jar", default="benchmarks/target/benchmarks.jar")
args = parser.parse_args()
java = os.path.join(os.environ.get("JAVA_HOME", "/usr/lib/jvm/temurin-25-jdk-amd64"), "bin", "java")

SCORE = re.compile(r"^CrossNodeThroughput\.send\s+\S+\s+\S+\s+thrpt\s+\d+\s+([0-9.]+)", re.M)
CPU = re.compile(r"CPU per message .*?sending JVM ([0-9.]+) ns, receiving JVM ([0-9.]+) ns, both ([0-9.]+) ns")


def run(runtime):
    out = subprocess.run([java, "-jar", args.jar, "CrossNodeThroughput", "-p", "runtime=" + runtime,
                          "-p", f"pairs={args.pairs}", "-wi", "8", "-i", "5", "-f", "1"],
                         capture_output=True, text=True).stdout
    score, cpu = SCORE.search(out), CPU.search(out)
    if not score or not cpu:
        raise SystemExit(f"a {runtime} run printed no score or no CPU per message:\n{out[-3000:]}")
    s, (send, recv, both) = float(score.group(1)) / 1e6, map(float, cpu.groups())
    print(f"{time.strftime('%H:%M:%S')} {runtime:8} {args.pairs} pair(s) {s:6.2f} M msg/s   "
          f"ns per message: sending JVM {send:6.1f}, receiving JVM {recv:6.1f}, both {both:6.1f}", flush=True)
    return s, both


throughput, cost = [], []
for _ in range(args.rounds):
    a, b = run(args.runtime), run(args.anchor)
    throughput.append(a[0] / b[0])
    cost.append(b[1] / a[1])
print(f"{args.runtime} / {args.anchor}, adjacent pairs: throughput "
      + " ".join(f"{r:.1%}" for r in throughput) + f"; median {statistics.median(throughput):.1%}")
print(f"{args.anchor}'s CPU per message (both JVMs) / {args.runtime}'s: "
      + " ".join(f"{r:.1%}" for r in cost) + f"; median {statistics.median(cost):.1%}")
