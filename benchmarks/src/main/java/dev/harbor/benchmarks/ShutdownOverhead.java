package dev.harbor.benchmarks;

import dev.harbor.proto.CoordinatorGrpc;
import dev.harbor.proto.ExitEvent;
import dev.harbor.proto.PlanRequest;
import dev.harbor.proto.PlanResponse;
import dev.harbor.proto.PlannedStep;
import dev.harbor.proto.Report;
import dev.harbor.proto.ShutdownProgress;
import dev.harbor.proto.ShutdownRequest;
import dev.harbor.proto.StepFinished;
import io.grpc.CallCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

/**
 * Shutdown overhead: how much longer a coordinated shutdown of a whole cluster takes than the critical
 * path of its steps' actual durations. The design's target: under 50 ms over that path, for 3 nodes,
 * 10,000 services, 1,000 of them registered in a dependency chain of depth 5.
 *
 * <p>Not a JMH benchmark: a plain main, run from the shaded jar:
 * <pre>
 * java -cp benchmarks/target/benchmarks.jar dev.harbor.benchmarks.ShutdownOverhead [runs [warm-up]]
 * </pre>
 * {@code runs} defaults to 5 and {@code warm-up} to 1; each run takes a fresh cluster (about 30-40 s on
 * 2 cores: starting three JVMs and their services, then the shutdown itself). {@code -Dharbor.bench.shutdown.keep=true} keeps each run's
 * directory (node configs, node logs, the coordinator's run record) instead of deleting it; a failed
 * run's directory is always kept. {@code -Dharbor.bench.shutdown.logging=quiet} has the nodes log
 * warnings only instead of logging as node processes do; {@code -Dharbor.bench.shutdown.services=1000}
 * runs the same chain without stateless services (to see the registered levels' overhead alone: the
 * design's scenario is the default, 10,000). {@code -Dharbor.bench.child.jvmArgs="..."} passes options to the node
 * JVMs (for a flight recording: {@code -XX:StartFlightRecording=filename=/tmp/node-%p.jfr,settings=profile}).
 *
 * <p><b>The cluster: three processes.</b> Each node is a child JVM ({@link ShutdownNode}) running a
 * real node process ({@code NodeProcess}, as {@code harbor node --config} does: the node, its Harbor
 * transport and its admin API on one gRPC server, its extensions) on 127.0.0.1. Node 1's config says
 * {@code coordinator.enabled=true}, with a bearer token from a file and its run record in the run's
 * directory; nodes 2 and 3 are plain nodes. Heartbeats, loss timeouts and the stateless and node step
 * timeouts (2 s, 5 s) are the defaults. This JVM is only the client of the {@code Coordinator} gRPC API.
 * Logging is the node process's own (INFO: one line per service exit, per admin {@code Kill}, per
 * registration), into a log file per node.
 *
 * <p><b>The services: 10,000</b>, spread evenly over the three nodes (3,334 / 3,333 / 3,333, not
 * counting each node's monitor and the coordinator itself). 1,000 of them are registered, 200 per role
 * of {@link #ROLES}, spread round-robin over the nodes: {@code gateway}; the custom roles {@code r1},
 * {@code r2}, {@code r3}, where r1 depends on r2 and r2 on r3 (each stops before the next); {@code writer}.
 * The default plan puts gateways before custom roles and those before writers, so the plan is
 * gateway, r1, r2, r3, writer: five levels of 200 steps, each step of a level waiting for every step
 * of the levels before it. Every registered service registers with a 2 s drain timeout and exits at
 * once on its {@code Drain}. The other 9,000 are idle stateless services, which the plan's per-node
 * stateless steps kill; then each node's step stops it. Before measuring, the {@code Plan} RPC is
 * polled until the coordinator sees all three nodes and 1,000 registrations, and the plan is checked
 * to be exactly those five levels of one role each, in that order.
 *
 * <p><b>One run.</b> {@code Shutdown} (budget 120 s, all nodes) over the {@code Coordinator} API with the
 * bearer token; the client reads the whole progress stream (directly on gRPC's thread, stamping each
 * item's arrival) until the report. Measured:
 * <ul>
 *   <li><i>total</i>: the report's {@code total_ms} (the coordinator's clock, from the run's start to
 *       the report), and <i>wall</i>: from just before the client sends the request to the report's
 *       arrival (this adds making the plan before the run starts, and the request's and report's
 *       way over gRPC);</li>
 *   <li><i>critical path</i>: the longest path through the plan's graph (each step's {@code after}) with
 *       every step weighted by its actual {@code duration_ms} from the report;</li>
 *   <li><i>overhead</i> = total − critical path (and wall − critical path).</li>
 * </ul>
 * The coordinator's own node, node 1, is stopped only after the report, by design: its node step ends
 * at once with a duration of 0, and neither the total nor the critical path contains node 1's actual
 * stop. Nodes 2 and 3 are really stopped inside the run (their node steps end at their monitors' exit
 * events). After the report the client checks that all three processes exit by themselves with 0.
 *
 * <p><b>Where the overhead goes.</b> Per level (each role, then the stateless and node steps together,
 * since each node's node step waits only for its own stateless step) the run's timeline gives: the gap
 * between the previous level's last finish and this level's first start; the level's span (first
 * start to last finish) and its longest step (for the last level, the longest stateless-then-node
 * chain); span − longest is what the level adds beyond its critical step (steps started one after
 * another, exits confirmed late). Before the first step and after the last one are the rest: the
 * overhead is the sum of these. For drain steps it also estimates, from the exit events' own
 * timestamps ({@code time_unix_nanos}, the node's clock, the same machine's realtime clock as this
 * JVM's), how long each service took from its step's start to its exit (the Drain's way) and how
 * long the coordinator took from that exit to the step's end (the exit event's way, and the queue in
 * front of the coordinator): a step's duration includes both, so a coordinator that is slow to take
 * exit events in makes the critical path itself longer, which the overhead alone would not show.
 * These use the run's progress timestamps, which have a resolution of 1 ms.
 *
 * <p><b>Resolution.</b> Durations and {@code total_ms} are whole milliseconds (truncated), so the critical
 * path of 7 steps may read up to about 7 ms short; the overhead is then overstated by as much.
 *
 * <p>Every wait is bounded; every node JVM is killed at the end of its run, even on failure (and
 * exits by itself when this JVM dies, see {@link ChildJvm}); all traffic is on 127.0.0.1.
 */
public final class ShutdownOverhead {

    /** A role of the chain: its name and the roles it depends on (it stops before them). */
    record RoleSpec(String name, List<String> dependsOn) {
    }

    /** The chain, in plan order: gateway -> r1 -> r2 -> r3 -> writer. */
    static final List<RoleSpec> ROLES = List.of(
            new RoleSpec("gateway", List.of()),
            new RoleSpec("r1", List.of("r2")),
            new RoleSpec("r2", List.of("r3")),
            new RoleSpec("r3", List.of()),
            new RoleSpec("writer", List.of()));

    static final int NODES = 3;
    /** {@code -Dharbor.bench.shutdown.services=N}: services in all (at least the 1,000 registered); 10,000 by default. */
    static final String SERVICES_PROPERTY = "harbor.bench.shutdown.services";
    static final int SERVICES = Integer.getInteger(SERVICES_PROPERTY, 10_000);
    static final int PER_ROLE = 200;
    static final Duration DRAIN_TIMEOUT = Duration.ofSeconds(2);
    static final Duration BUDGET = Duration.ofSeconds(120);
    static final long TARGET_MS = 50;
    static final String KEEP_PROPERTY = "harbor.bench.shutdown.keep";
    /** {@code node} (the default): the nodes log as node processes do; {@code quiet}: warnings only. */
    static final String LOGGING_PROPERTY = "harbor.bench.shutdown.logging";
    private static final Metadata.Key<String> AUTHORIZATION = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    /** A plan of thousands of steps can pass gRPC's 4 MB default message size (before role barriers it was 10 MB). */
    private static final int MAX_MESSAGE = 256 << 20;

    private ShutdownOverhead() {
    }

    public static void main(String[] args) throws Exception {
        if (SERVICES < PER_ROLE * ROLES.size()) {
            throw new IllegalArgumentException(SERVICES_PROPERTY + " must be at least " + PER_ROLE * ROLES.size());
        }
        int runs = args.length > 0 ? Integer.parseInt(args[0]) : 5;
        int warmUp = args.length > 1 ? Integer.parseInt(args[1]) : 1;
        System.out.printf(Locale.ROOT, "Shutdown overhead: %d node processes on 127.0.0.1, %,d services, %,d registered"
                + " (%d per role, chain %s), drain timeout %d ms, budget %d s; %d run(s) after %d warm-up, a fresh cluster each%n",
                NODES, SERVICES, PER_ROLE * ROLES.size(), PER_ROLE,
                String.join(" -> ", ROLES.stream().map(RoleSpec::name).toList()), DRAIN_TIMEOUT.toMillis(), BUDGET.toSeconds(),
                runs, warmUp);
        System.out.println("node logging: " + logging() + "; machine: " + Runtime.getRuntime().availableProcessors()
                + " cores, load average " + loadAverage());

        List<Result> results = new ArrayList<>();
        for (int i = 0; i < warmUp + runs; i++) {
            String label = i < warmUp ? "warm-up " + (i + 1) : "run " + (i - warmUp + 1);
            Result r = runOnce(label);
            r.print();
            if (i >= warmUp) {
                results.add(r);
            }
        }
        if (results.isEmpty()) {
            return;
        }
        List<Result> clean = results.stream().filter(r -> r.clean).toList();
        System.out.println();
        if (clean.size() < results.size()) {
            System.out.printf(Locale.ROOT, "%d of %d run(s) were NOT CLEAN (steps escalated or lost): their figures are not an"
                    + " overhead measurement%s%n", results.size() - clean.size(), results.size(),
                    clean.isEmpty() ? "; the summary below is over all runs regardless" : " and are left out of the summary");
        }
        results = clean.isEmpty() ? results : clean;
        long[] overhead = results.stream().mapToLong(Result::overheadMs).sorted().toArray();
        long[] overheadWall = results.stream().mapToLong(Result::overheadWallMs).sorted().toArray();
        long[] total = results.stream().mapToLong(r -> r.totalMs).sorted().toArray();
        long[] path = results.stream().mapToLong(r -> r.criticalPathMs).sorted().toArray();
        long[] overheadWork = results.stream().mapToLong(r -> r.totalMs - r.workPathMs).sorted().toArray();
        System.out.printf(Locale.ROOT, "Summary of %d run(s): overhead (total - critical path) median %d ms, max %d ms (min %d);"
                + " target < %d ms: %s%n", results.size(), median(overhead), overhead[overhead.length - 1], overhead[0], TARGET_MS,
                overhead[overhead.length - 1] < TARGET_MS ? "met" : median(overhead) < TARGET_MS ? "median met, max not" : "NOT met");
        System.out.printf(Locale.ROOT, "  total median %d ms, critical path median %d ms; client wall - critical path: median %d ms,"
                + " max %d ms%n", median(total), median(path), median(overheadWall), overheadWall[overheadWall.length - 1]);
        System.out.printf(Locale.ROOT, "  total - critical path with drain steps ending at their services' exits: median %d ms, max %d ms%n",
                median(overheadWork), overheadWork[overheadWork.length - 1]);
        System.out.println("  load average at the end: " + loadAverage());
    }

    // ------------------------------------------------------------------ one run

    private static Result runOnce(String label) throws Exception {
        Path dir = Files.createTempDirectory("harbor-shutdown-overhead-");
        boolean ok = false;
        String loadBefore = loadAverage();
        try (Cluster cluster = new Cluster(dir)) {
            PlanResponse plan = cluster.awaitPlan();
            List<List<PlannedStep>> levels = checkLevels(plan);
            Result r = shutdown(cluster, plan, levels, label, dir);
            r.loadBefore = loadBefore;
            r.exits = cluster.awaitExits();
            ok = true;
            return r;
        } finally {
            if (ok && !Boolean.getBoolean(KEEP_PROPERTY)) {
                deleteTree(dir);
            } else {
                System.out.println("  (" + label + ": the cluster's configs, node logs and run record are in " + dir + ")");
            }
        }
    }

    /** The five drain levels of the plan, checked to be one role each, in chain order, 200 steps each. */
    private static List<List<PlannedStep>> checkLevels(PlanResponse plan) {
        Map<String, Integer> depth = new HashMap<>();
        Map<Integer, List<PlannedStep>> byDepth = new java.util.TreeMap<>();
        for (PlannedStep s : plan.getStepsList()) { // listed so that each comes after those it waits for
            int d = 1;
            for (String a : s.getAfterList()) {
                Integer before = depth.get(a);
                if (before == null) {
                    throw new IllegalStateException("the plan lists step " + s.getId() + " before its predecessor " + a);
                }
                d = Math.max(d, before + 1);
            }
            depth.put(s.getId(), d);
            if (s.getKind() == PlannedStep.Kind.DRAIN) {
                byDepth.computeIfAbsent(d, x -> new ArrayList<>()).add(s);
            }
        }
        List<List<PlannedStep>> levels = new ArrayList<>(byDepth.values());
        List<String> seen = levels.stream().map(l -> l.get(0).getRole() + " x" + l.size()).toList();
        if (levels.size() != ROLES.size()) {
            throw new IllegalStateException("the plan's registered steps form " + levels.size() + " levels " + seen + ", expected "
                    + ROLES.size());
        }
        for (int i = 0; i < levels.size(); i++) {
            String role = ROLES.get(i).name();
            List<PlannedStep> level = levels.get(i);
            if (level.size() != PER_ROLE || level.stream().anyMatch(s -> !s.getRole().equals(role))) {
                throw new IllegalStateException("level " + (i + 1) + " of the plan is not " + PER_ROLE + " " + role
                        + " steps: the levels are " + seen);
            }
        }
        return levels;
    }

    /** One progress item as it arrived. */
    private record Arrival(ShutdownProgress item, long nanoTime, long unixNanos) {
    }

    private static Result shutdown(Cluster cluster, PlanResponse plan, List<List<PlannedStep>> levels, String label, Path dir)
            throws IOException {
        ConcurrentLinkedQueue<Arrival> arrivals = new ConcurrentLinkedQueue<>();
        CountDownLatch done = new CountDownLatch(1);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        long[] reportAt = {0};
        long sent = System.nanoTime();
        cluster.coordinator().withDeadlineAfter(BUDGET.toMillis() + 30_000, TimeUnit.MILLISECONDS)
                .shutdown(ShutdownRequest.newBuilder().setBudgetMs((int) BUDGET.toMillis()).build(), new StreamObserver<>() {
                    @Override
                    public void onNext(ShutdownProgress item) {
                        long now = System.nanoTime();
                        arrivals.add(new Arrival(item, now, ExitEventLatency.unixNanos(Instant.now())));
                        if (item.hasReport()) {
                            reportAt[0] = now;
                        }
                    }

                    @Override
                    public void onError(Throwable t) {
                        failure.set(t);
                        done.countDown();
                    }

                    @Override
                    public void onCompleted() {
                        done.countDown();
                    }
                });
        try {
            if (!done.await(BUDGET.toMillis() + 40_000, TimeUnit.MILLISECONDS)) {
                throw new IllegalStateException("the Shutdown stream did not end within the budget + 40 s");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for the Shutdown stream", e);
        }
        if (failure.get() != null) {
            throw new IllegalStateException("the Shutdown stream failed: " + failure.get(), failure.get());
        }
        List<Arrival> items = List.copyOf(arrivals);
        Report report = items.stream().map(Arrival::item).filter(ShutdownProgress::hasReport).map(ShutdownProgress::getReport)
                .findFirst().orElseThrow(() -> new IllegalStateException("the Shutdown stream ended without a report"));
        writeProgress(dir.resolve("progress.tsv"), items, sent);
        // The plan the run carried out: its first progress item (the same as the dry run's, checked again).
        PlanResponse ran = items.stream().map(Arrival::item).filter(ShutdownProgress::hasPlan).map(ShutdownProgress::getPlan)
                .findFirst().orElseThrow(() -> new IllegalStateException("the Shutdown stream carried no plan"));
        if (!ran.getStepsList().equals(plan.getStepsList())) {
            levels = checkLevels(ran);
        }
        return Result.of(label, ran, levels, items, report, (reportAt[0] - sent) / 1_000_000, sent);
    }

    /**
     * The progress stream as it arrived, one item a line, for a closer look at a kept run: the item's
     * at_ms, its arrival in ms since the request was sent, its kind, its step or service, and for an
     * exit event its reason and its time on the node's clock (unix ms); for a finished step its
     * outcome, duration and detail.
     */
    private static void writeProgress(Path file, List<Arrival> items, long sent) throws IOException {
        List<String> lines = new ArrayList<>();
        lines.add("at_ms\tarrived_ms\tkind\twhat\tdetail");
        for (Arrival a : items) {
            ShutdownProgress p = a.item();
            String what;
            String detail;
            switch (p.getItemCase()) {
                case PLAN -> {
                    what = p.getPlan().getStepsCount() + " steps";
                    detail = p.getPlan().getSerializedSize() + " bytes";
                }
                case STARTED -> {
                    what = p.getStarted().getStep();
                    detail = "";
                }
                case FINISHED -> {
                    what = p.getFinished().getStep();
                    detail = p.getFinished().getOutcome() + " " + p.getFinished().getDurationMs() + " ms " + p.getFinished().getDetail();
                }
                case EXIT -> {
                    what = p.getExit().getHandle().getNode() + "/" + Long.toHexString(p.getExit().getHandle().getId());
                    detail = p.getExit().getReason() + String.format(Locale.ROOT, " %.3f", p.getExit().getTimeUnixNanos() / 1e6);
                }
                case REPORT -> {
                    what = "report";
                    detail = p.getReport().getTotalMs() + " ms, clean " + p.getReport().getClean();
                }
                default -> {
                    what = p.getItemCase().name();
                    detail = "";
                }
            }
            lines.add(p.getAtMs() + "\t" + String.format(Locale.ROOT, "%.3f", (a.nanoTime() - sent) / 1e6) + "\t"
                    + p.getItemCase().name().toLowerCase(Locale.ROOT) + "\t" + what + "\t" + detail);
        }
        Files.write(file, lines);
    }

    // ------------------------------------------------------------------ analysis

    /** What one run measured, and where its time went. */
    static final class Result {
        String label;
        long totalMs;
        long wallMs;
        long criticalPathMs;
        List<String> criticalSteps;
        boolean clean;
        int notDone;
        List<String> notDoneSteps = new ArrayList<>();
        int exitEvents;
        long planAtMs;
        long firstStartAtMs;
        long lastFinishAtMs;
        long reportAtMs;
        List<String> table = new ArrayList<>();
        long accountedMs;
        /** The critical path with each drain step ending at its service's exit (on the node's clock) instead. */
        long workPathMs = -1;
        int planBytes;
        long planArrivedMs;
        String loadBefore;
        String exits;

        long overheadMs() {
            return totalMs - criticalPathMs;
        }

        long overheadWallMs() {
            return wallMs - criticalPathMs;
        }

        static Result of(String label, PlanResponse plan, List<List<PlannedStep>> levels, List<Arrival> items, Report report,
                long wallMs, long sentNanos) {
            Result r = new Result();
            r.label = label;
            r.totalMs = report.getTotalMs();
            r.wallMs = wallMs;
            r.clean = report.getClean();
            Map<String, StepFinished> finished = new HashMap<>();
            for (StepFinished f : report.getStepsList()) {
                finished.put(f.getStep(), f);
                if (f.getOutcome() != StepFinished.Outcome.DONE) {
                    r.notDone++;
                    String detail = f.getDetail().length() > 160 ? f.getDetail().substring(0, 160) + "..." : f.getDetail();
                    r.notDoneSteps.add(f.getStep() + " " + f.getOutcome() + " after " + f.getDurationMs() + " ms (" + detail + ")");
                }
            }

            // The critical path of actual durations: the plan lists each step after those it waits for.
            Map<String, Long> end = new HashMap<>();
            Map<String, String> via = new HashMap<>();
            String last = null;
            long longest = -1;
            for (PlannedStep s : plan.getStepsList()) {
                long start = 0;
                String from = null;
                for (String a : s.getAfterList()) {
                    long e = end.get(a);
                    if (from == null || e > start) {
                        start = e;
                        from = a;
                    }
                }
                StepFinished f = finished.get(s.getId());
                if (f == null) {
                    throw new IllegalStateException("the report has no duration for step " + s.getId());
                }
                long e = start + f.getDurationMs();
                end.put(s.getId(), e);
                via.put(s.getId(), from);
                if (e > longest) {
                    longest = e;
                    last = s.getId();
                }
            }
            List<String> path = new ArrayList<>();
            for (String at = last; at != null; at = via.get(at)) {
                path.add(0, at + " " + finished.get(at).getDurationMs());
            }
            r.criticalPathMs = longest;
            r.criticalSteps = path;

            // The timeline, from the progress items (at_ms: ms since the run's start, coordinator's clock).
            Map<String, Long> startedAt = new HashMap<>();
            Map<String, Long> finishedAt = new HashMap<>();
            Map<dev.harbor.proto.Handle, ExitEvent> exitOf = new HashMap<>();
            long runStartUnix = Long.MAX_VALUE;
            for (Arrival a : items) {
                ShutdownProgress p = a.item();
                runStartUnix = Math.min(runStartUnix, a.unixNanos() - p.getAtMs() * 1_000_000);
                switch (p.getItemCase()) {
                    case PLAN -> r.planAtMs = p.getAtMs();
                    case STARTED -> startedAt.put(p.getStarted().getStep(), p.getAtMs());
                    case FINISHED -> finishedAt.put(p.getFinished().getStep(), p.getAtMs());
                    case EXIT -> {
                        exitOf.putIfAbsent(p.getExit().getHandle(), p.getExit());
                        r.exitEvents++;
                    }
                    case REPORT -> r.reportAtMs = p.getAtMs();
                    default -> {
                    }
                }
            }
            for (Arrival a : items) {
                if (a.item().hasPlan()) {
                    r.planBytes = a.item().getPlan().getSerializedSize();
                    r.planArrivedMs = (a.nanoTime() - sentNanos) / 1_000_000;
                }
            }
            r.firstStartAtMs = startedAt.values().stream().mapToLong(Long::longValue).min().orElse(0);

            // The same path, but with each drain step ending when its service exited rather than when the
            // coordinator took the exit event in: what the plan's work alone would take.
            Map<String, Long> workEnd = new HashMap<>();
            long work = 0;
            for (PlannedStep s : plan.getStepsList()) {
                long start = 0;
                for (String a : s.getAfterList()) {
                    start = Math.max(start, workEnd.get(a));
                }
                long d = finished.get(s.getId()).getDurationMs();
                ExitEvent e = s.getKind() == PlannedStep.Kind.DRAIN ? exitOf.get(s.getService()) : null;
                if (e != null && startedAt.containsKey(s.getId())) {
                    long startUnix = runStartUnix + startedAt.get(s.getId()) * 1_000_000;
                    d = Math.max(0, Math.min(d, (e.getTimeUnixNanos() - startUnix + 999_999) / 1_000_000));
                }
                workEnd.put(s.getId(), start + d);
                work = Math.max(work, start + d);
            }
            r.workPathMs = work;
            r.lastFinishAtMs = finishedAt.values().stream().mapToLong(Long::longValue).max().orElse(0);

            // Per level: the roles, then each node's stateless and node steps together.
            Map<String, List<PlannedStep>> rows = new LinkedHashMap<>();
            for (List<PlannedStep> level : levels) {
                rows.put(level.get(0).getRole(), level);
            }
            rows.put("stateless+node", plan.getStepsList().stream().filter(s -> s.getKind() != PlannedStep.Kind.DRAIN).toList());
            r.table.add(String.format(Locale.ROOT, "    %-15s %5s %6s %8s %10s %10s %8s %8s %8s   %s", "level", "steps", "gap",
                    "1st start", "last start", "last end", "longest", "span", "span-lng",
                    "drain: start->exit p50/max, exit->step end p50/max (ms)"));
            long previousEnd = 0;
            long accounted = r.firstStartAtMs;
            for (var row : rows.entrySet()) {
                List<PlannedStep> steps = row.getValue();
                long first = steps.stream().mapToLong(s -> startedAt.getOrDefault(s.getId(), -1L)).min().orElse(-1);
                long lastStart = steps.stream().mapToLong(s -> startedAt.getOrDefault(s.getId(), -1L)).max().orElse(-1);
                long lastEnd = steps.stream().mapToLong(s -> finishedAt.getOrDefault(s.getId(), -1L)).max().orElse(-1);
                long lng;
                if (row.getKey().equals("stateless+node")) {
                    Map<Integer, Long> chain = new HashMap<>();
                    for (PlannedStep s : steps) {
                        chain.merge(s.getNode(), finished.get(s.getId()).getDurationMs(), Long::sum);
                    }
                    lng = chain.values().stream().mapToLong(Long::longValue).max().orElse(0);
                } else {
                    lng = steps.stream().mapToLong(s -> finished.get(s.getId()).getDurationMs()).max().orElse(0);
                }
                long gap = previousEnd == 0 ? 0 : first - previousEnd;
                String drain = "";
                if (steps.get(0).getKind() == PlannedStep.Kind.DRAIN) {
                    List<Long> toExit = new ArrayList<>();
                    List<Long> toEnd = new ArrayList<>();
                    for (PlannedStep s : steps) {
                        ExitEvent e = exitOf.get(s.getService());
                        if (e == null || !startedAt.containsKey(s.getId()) || !finishedAt.containsKey(s.getId())) {
                            continue;
                        }
                        long startUnix = runStartUnix + startedAt.get(s.getId()) * 1_000_000;
                        long endUnix = runStartUnix + finishedAt.get(s.getId()) * 1_000_000;
                        toExit.add(e.getTimeUnixNanos() - startUnix);
                        toEnd.add(endUnix - e.getTimeUnixNanos());
                    }
                    drain = String.format(Locale.ROOT, "%6.1f /%6.1f   %6.1f /%6.1f", ms(medianOf(toExit)), ms(maxOf(toExit)),
                            ms(medianOf(toEnd)), ms(maxOf(toEnd)));
                }
                if (previousEnd != 0) {
                    accounted += gap;
                }
                accounted += lastEnd - first - lng;
                r.table.add(String.format(Locale.ROOT, "    %-15s %5d %6d %8d %10d %10d %8d %8d %8d   %s", row.getKey(), steps.size(),
                        gap, first, lastStart, lastEnd, lng, lastEnd - first, lastEnd - first - lng, drain));
                previousEnd = lastEnd;
            }
            accounted += r.reportAtMs - previousEnd;
            r.accountedMs = accounted;
            return r;
        }

        void print() {
            System.out.println();
            System.out.printf(Locale.ROOT, "%s: total %d ms (report), wall %d ms (client); critical path of actual durations %d ms;"
                    + " OVERHEAD %d ms (wall - path: %d ms); %s, %d step(s) not DONE, %,d exit events streamed%n", label, totalMs,
                    wallMs, criticalPathMs, overheadMs(), overheadWallMs(), clean ? "clean" : "NOT CLEAN", notDone, exitEvents);
            notDoneSteps.stream().limit(10).forEach(n -> System.out.println("  NOT DONE: " + n));
            System.out.println("  critical path (step ms): " + String.join(" -> ", criticalSteps));
            System.out.printf(Locale.ROOT, "  timeline (ms since the run's start): plan item at %d, first step started at %d,"
                    + " last step ended at %d, report at %d; the plan item (%,d bytes) reached the client %d ms after the request%n",
                    planAtMs, firstStartAtMs, lastFinishAtMs, reportAtMs, planBytes, planArrivedMs);
            System.out.printf(Locale.ROOT, "  with each drain step ending at its service's exit (not at the coordinator's taking it in),"
                    + " the critical path would be %d ms: total - that = %d ms%n", workPathMs, totalMs - workPathMs);
            table.forEach(System.out::println);
            System.out.printf(Locale.ROOT, "    before the first step %d + gaps + (span - longest) + after the last step %d = %d ms"
                    + " (levels' longest summed: %d ms; critical path %d ms)%n", firstStartAtMs, reportAtMs - lastFinishAtMs,
                    accountedMs, reportAtMs - accountedMs, criticalPathMs);
            System.out.println("  node processes after the report: " + exits + "; load average before the run " + loadBefore);
        }
    }

    // ------------------------------------------------------------------ the cluster

    /** Three node processes, node 1 hosting the coordinator; closing kills whatever is left of them. */
    private static final class Cluster implements AutoCloseable {
        private final List<ChildJvm> children = new ArrayList<>();
        private final ManagedChannel channel;
        private final String token = UUID.randomUUID().toString();

        Cluster(Path dir) throws IOException {
            int[] ports = new int[NODES + 1];
            List<String> addresses = new ArrayList<>();
            for (int id = 1; id <= NODES; id++) {
                ports[id] = CrossNodeThroughput.freePort();
                addresses.add("127.0.0.1:" + ports[id]);
            }
            Path tokenFile = dir.resolve("token");
            Files.writeString(tokenFile, token);
            String[][] args = new String[NODES + 1][];
            for (int id = 1; id <= NODES; id++) {
                List<String> config = new ArrayList<>(List.of(
                        "node.id=" + id,
                        "node.listen=127.0.0.1:" + ports[id],
                        "node.advertise=127.0.0.1:" + ports[id],
                        "cluster.name=shutdown-overhead",
                        "cluster.peers=" + String.join(",", addresses),
                        "coordinator.token-file=" + tokenFile)); // the cluster's token, on every node
                if (id == 1) {
                    config.addAll(List.of(
                            "coordinator.enabled=true",
                            "coordinator.state-dir=" + dir.resolve("coordinator-state"),
                            "coordinator.budget-ms=" + BUDGET.toMillis()));
                }
                Path file = dir.resolve("node-" + id + ".properties");
                Files.write(file, config);
                // Registered: 200 per role, round-robin over the nodes; stateless: the rest, so that each
                // node holds a third of the 10,000.
                StringBuilder perRole = new StringBuilder();
                int registered = 0;
                for (int r = 0; r < ROLES.size(); r++) {
                    int n = share(PER_ROLE, id);
                    perRole.append(r == 0 ? "" : ",").append(n);
                    registered += n;
                }
                int stateless = share(SERVICES, id) - registered;
                args[id] = new String[] {file.toString(), dir.resolve("node-" + id + ".log").toString(), logging(),
                        Long.toString(DRAIN_TIMEOUT.toMillis()), perRole.toString(), Integer.toString(stateless)};
            }
            channel = Grpc.newChannelBuilder(addresses.get(0), InsecureChannelCredentials.create()).directExecutor()
                    .maxInboundMessageSize(MAX_MESSAGE).build();
            try {
                // Node 1 (the coordinator) first; then 2 and 3 together, each waiting for the coordinator's name.
                children.add(ChildJvm.start("node 1", ShutdownNode.class, args[1]));
                List<CompletableFuture<ChildJvm>> others = new ArrayList<>();
                for (int id = 2; id <= NODES; id++) {
                    String[] a = args[id];
                    String what = "node " + id;
                    others.add(CompletableFuture.supplyAsync(() -> ChildJvm.start(what, ShutdownNode.class, a),
                            r -> Thread.ofPlatform().name("start-" + what).start(r)));
                }
                RuntimeException first = null;
                for (CompletableFuture<ChildJvm> f : others) {
                    try {
                        children.add(BenchSupport.get(f, "starting a node"));
                    } catch (RuntimeException e) {
                        first = first == null ? e : first;
                    }
                }
                if (first != null) {
                    throw first;
                }
            } catch (RuntimeException e) {
                close();
                throw e;
            }
        }

        /** {@code total} split over the nodes, node 1 taking the remainder first. */
        private static int share(int total, int id) {
            return total / NODES + (id <= total % NODES ? 1 : 0);
        }

        CoordinatorGrpc.CoordinatorStub coordinator() {
            return CoordinatorGrpc.newStub(channel).withCallCredentials(bearer(token));
        }

        /** Polls the Plan RPC until the coordinator sees every node and every registration. */
        PlanResponse awaitPlan() throws InterruptedException {
            CoordinatorGrpc.CoordinatorBlockingStub stub = CoordinatorGrpc.newBlockingStub(channel).withCallCredentials(bearer(token));
            long deadline = System.nanoTime() + BenchSupport.TIMEOUT.toNanos();
            String last = "no answer yet";
            while (System.nanoTime() < deadline) {
                try {
                    PlanResponse p = stub.withDeadlineAfter(10, TimeUnit.SECONDS)
                            .plan(PlanRequest.newBuilder().setBudgetMs((int) BUDGET.toMillis()).build());
                    long drains = p.getStepsList().stream().filter(s -> s.getKind() == PlannedStep.Kind.DRAIN).count();
                    if (p.getRefusal().isEmpty() && p.getNodesCount() == NODES && drains == (long) PER_ROLE * ROLES.size()) {
                        return p;
                    }
                    last = "nodes " + p.getNodesList() + ", " + drains + " registered steps, refusal '" + p.getRefusal() + "'";
                } catch (StatusRuntimeException e) {
                    last = e.getStatus().toString();
                }
                Thread.sleep(1_000); // each Plan call makes the whole plan anew: do not hammer the coordinator
            }
            throw new IllegalStateException("the coordinator did not see all " + NODES + " nodes and " + PER_ROLE * ROLES.size()
                    + " registrations within " + BenchSupport.TIMEOUT.toSeconds() + " s; last: " + last);
        }

        /** Waits (bounded) for every node process to exit by itself, as the run stops them; says how they did. */
        String awaitExits() {
            List<String> out = new ArrayList<>();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            for (int i = 0; i < children.size(); i++) {
                Integer code = children.get(i).awaitExit(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
                out.add("node " + (i + 1) + (code == null ? " STILL RUNNING after 30 s" : " exited " + code));
            }
            return String.join(", ", out);
        }

        @Override
        public void close() {
            channel.shutdownNow();
            for (ChildJvm c : children) {
                try {
                    c.close();
                } catch (RuntimeException e) {
                    System.err.println("could not end a node process: " + e);
                }
            }
            try {
                channel.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    // ------------------------------------------------------------------ helpers

    static CallCredentials bearer(String token) {
        return new CallCredentials() {
            @Override
            public void applyRequestMetadata(RequestInfo info, Executor executor, MetadataApplier applier) {
                Metadata m = new Metadata();
                m.put(AUTHORIZATION, "Bearer " + token);
                applier.apply(m);
            }
        };
    }

    static String logging() {
        return System.getProperty(LOGGING_PROPERTY, "node");
    }

    static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + " / " + f[1] + " / " + f[2] + " (1 / 5 / 15 min)";
        } catch (IOException | RuntimeException e) {
            return "unknown";
        }
    }

    private static long median(long[] sorted) {
        return sorted[(sorted.length - 1) / 2];
    }

    private static long medianOf(List<Long> values) {
        if (values.isEmpty()) {
            return 0;
        }
        long[] v = values.stream().mapToLong(Long::longValue).sorted().toArray();
        return v[(v.length - 1) / 2];
    }

    private static long maxOf(List<Long> values) {
        return values.stream().mapToLong(Long::longValue).max().orElse(0);
    }

    private static double ms(long nanos) {
        return nanos / 1e6;
    }

    private static void deleteTree(Path dir) {
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (IOException | UncheckedIOException e) {
            System.err.println("could not delete " + dir + ": " + e);
        }
    }
}
