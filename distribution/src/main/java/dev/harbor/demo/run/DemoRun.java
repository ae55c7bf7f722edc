package dev.harbor.demo.run;

import dev.harbor.admin.ExitSubscriber;
import dev.harbor.security.BearerAuth;
import dev.harbor.service.ExitEvent;
import dev.harbor.proto.CoordinatorGrpc;
import dev.harbor.proto.PlanRequest;
import dev.harbor.proto.PlanResponse;
import dev.harbor.proto.PlannedStep;
import dev.harbor.proto.Report;
import dev.harbor.proto.ShutdownProgress;
import dev.harbor.proto.ShutdownRequest;
import dev.harbor.service.ServiceInfo;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * One run of the demo: start the cluster, put clients on it, shut it down through the coordinator in
 * the middle of the load, and check that nothing was lost ({@link DemoReport}).
 *
 * <p>Runs on the calling thread; clients run on virtual threads of their own; exit-stream callbacks
 * arrive on gRPC threads and only add to concurrent collections. {@code progress} is called from the
 * calling thread only.
 */
public final class DemoRun {
    /**
     * What to run.
     *
     * @param clients simulated clients, spread over the two gateways
     * @param load how long they write before the shutdown starts
     * @param budget the shutdown's time budget (the plan is checked against it, and so is the run)
     * @param databaseUrl the writer's JDBC URL, or null for an embedded H2 file under {@code dir}
     * @param dir where the run's files go
     */
    public record Options(int clients, Duration load, Duration budget, String databaseUrl, Path dir) {
        public Options {
            if (clients < 1 || clients > 20_000) {
                throw new IllegalArgumentException("--clients must be 1-20000, got " + clients);
            }
            if (load.isNegative() || budget.isNegative() || budget.isZero()) {
                throw new IllegalArgumentException("the load time must be 0 or more and the budget positive");
            }
        }
    }

    /** Hooks a caller can use to act during the run (a test stops the database, say). */
    public interface Hooks {
        /** The clients are writing; called once, before the load time starts counting. */
        default void loadStarted(DemoTarget cluster) throws Exception {
        }

        /**
         * {@code Shutdown} has just been called; runs on a thread of its own while the run goes on, and
         * the run waits for it at the end (what it throws fails the run).
         */
        default void shutdownCalled(DemoTarget cluster) throws Exception {
        }
    }

    private final Options options;
    private final Consumer<String> progress;
    private final Hooks hooks;

    public DemoRun(Options options, Consumer<String> progress, Hooks hooks) {
        this.options = options;
        this.progress = progress;
        this.hooks = hooks;
    }

    /** Runs it on a new local cluster. Every node process is gone when this returns (killed if it had not exited). */
    public DemoReport run() throws Exception {
        try (DemoCluster cluster = new DemoCluster(options.dir(), options.databaseUrl())) {
            requireEmpty(cluster.databaseUrl());
            progress.accept("starting 3 nodes (logs in " + cluster.dir() + ")");
            cluster.start();
            return runOn(cluster);
        }
    }

    /**
     * Runs it on a cluster that is up, with both gateways, the writer and the coordinator
     * ({@link Options#databaseUrl()} and {@link Options#dir()} are not used).
     */
    public DemoReport runOn(DemoTarget cluster) throws Exception {
        Map<Integer, List<ExitEvent>> exits = new ConcurrentHashMap<>();
        Map<Integer, Set<String>> alive = new ConcurrentHashMap<>();
        List<ExitSubscriber> subscribers = new ArrayList<>();
        ManagedChannel channel = Grpc.newChannelBuilder(cluster.address(cluster.coordinatorNode()),
                InsecureChannelCredentials.create()).maxInboundMessageSize(64 * 1024 * 1024).build();
        try {
            for (int id : cluster.nodes()) {
                List<ExitEvent> mine = new CopyOnWriteArrayList<>();
                Set<String> live = ConcurrentHashMap.newKeySet();
                exits.put(id, mine);
                alive.put(id, live);
                subscribers.add(ExitSubscriber.builder(cluster.address(id), new ExitSubscriber.Listener() {
                    @Override
                    public void onAlive(ServiceInfo s) {
                        live.add(s.handle().toString());
                    }

                    @Override
                    public void onExit(ExitEvent e) {
                        mine.add(e);
                    }
                }).start());
            }
            for (ExitSubscriber s : subscribers) {
                if (!s.awaitCaughtUp(Duration.ofSeconds(30))) {
                    throw new IllegalStateException("the exit stream of " + s.target() + " did not catch up within 30 s");
                }
            }
            var coordinator = CoordinatorGrpc.newBlockingStub(channel).withCallCredentials(BearerAuth.credentials(cluster.token()));
            return drive(cluster, coordinator, exits, alive, subscribers);
        } finally {
            channel.shutdownNow();
            subscribers.forEach(ExitSubscriber::close);
        }
    }

    private DemoReport drive(DemoTarget cluster, CoordinatorGrpc.CoordinatorBlockingStub coordinator, Map<Integer, List<ExitEvent>> exits,
            Map<Integer, Set<String>> alive, List<ExitSubscriber> subscribers) throws Exception {
        // Wait until the coordinator's plan has both gateways and the writer, and the writer is
        // reachable from both gateways (one acknowledged line through each).
        PlanResponse plan = awaitPlan(coordinator);
        DemoClient.Tally tally = new DemoClient.Tally();
        List<DemoClient> clients = new ArrayList<>();
        List<Thread> threads = new ArrayList<>();
        Duration maxRun = options.load().plus(options.budget()).plusSeconds(60);
        List<InetSocketAddress> gateways = cluster.gateways();
        for (InetSocketAddress g : gateways) {
            awaitWriterThrough(g, tally, clients, Duration.ofSeconds(30));
        }
        progress.accept("connecting " + options.clients() + " clients to the gateways at " + gateways);
        for (int i = 0; i < options.clients(); i++) {
            DemoClient c = new DemoClient(i + 1, gateways.get(i % gateways.size()), tally, maxRun);
            clients.add(c);
            threads.add(Thread.ofVirtual().name("demo-client-" + (i + 1)).start(c));
        }
        hooks.loadStarted(cluster);
        long loadEnd = System.nanoTime() + options.load().toNanos();
        while (System.nanoTime() < loadEnd) {
            progress.accept(String.format("load: %d clients connected, %d lines stored, %d refused", tally.connected.sum(),
                    tally.acked.sum(), tally.refused.sum()));
            Thread.sleep(Math.min(1000, Math.max(1, (loadEnd - System.nanoTime()) / 1_000_000)));
        }

        progress.accept("calling Shutdown on the coordinator (node " + cluster.coordinatorNode() + "), budget " + options.budget().toMillis() + " ms");
        long shutdownStart = System.nanoTime();
        java.time.Instant shutdownAt = java.time.Instant.now();
        List<ShutdownProgress> items = new ArrayList<>();
        Report report = null;
        ShutdownRequest request = ShutdownRequest.newBuilder().setBudgetMs((int) options.budget().toMillis()).build();
        long followUntil = shutdownStart + options.budget().plusSeconds(30).toNanos();
        Iterator<ShutdownProgress> it = coordinator.withDeadlineAfter(options.budget().toMillis() + 30_000, TimeUnit.MILLISECONDS)
                .shutdown(request);
        java.util.concurrent.CompletableFuture<Void> hook = new java.util.concurrent.CompletableFuture<>();
        Thread.ofVirtual().name("demo-shutdown-hook").start(() -> {
            try {
                hooks.shutdownCalled(cluster);
                hook.complete(null);
            } catch (Throwable t) {
                hook.completeExceptionally(t);
            }
        });
        while (report == null) {
            ShutdownProgress p;
            try {
                if (!it.hasNext()) {
                    break;
                }
                p = it.next();
            } catch (io.grpc.StatusRuntimeException broken) {
                // The coordinator's node went away mid-run (paused and declared lost, say) and its
                // coordinator, relaunched, resumes the run: call Shutdown again, as an operator would,
                // which joins the run in progress; until the run's time is up.
                long left = followUntil - System.nanoTime();
                if (left <= 0) {
                    throw broken;
                }
                if (cluster.awaitExit(Duration.ZERO).get(cluster.coordinatorNode()) != null) {
                    // The run ended while we were away and the coordinator's node has stopped with it:
                    // there is no one left to ask for the report (its node's log has the run's end).
                    progress.accept("the Shutdown stream broke and the coordinator's node has exited: no final report to follow");
                    break;
                }
                progress.accept("the Shutdown stream broke (" + broken.getStatus().getCode() + ": "
                        + broken.getStatus().getDescription() + "); calling Shutdown again to follow the run");
                Thread.sleep(100); // a pause between attempts, not a wait for a condition
                it = coordinator.withDeadlineAfter(TimeUnit.NANOSECONDS.toMillis(left), TimeUnit.MILLISECONDS).shutdown(request);
                continue;
            }
            items.add(p);
            switch (p.getItemCase()) {
                case STARTED -> progress.accept(String.format("%6d ms  step started   %s", p.getAtMs(), p.getStarted().getStep()));
                case FINISHED -> progress.accept(String.format("%6d ms  step %-9s %s (%d ms)%s", p.getAtMs(),
                        p.getFinished().getOutcome().toString().toLowerCase(java.util.Locale.ROOT), p.getFinished().getStep(),
                        p.getFinished().getDurationMs(), p.getFinished().getDetail().isEmpty() ? "" : ": " + p.getFinished().getDetail()));
                case REPORT -> report = p.getReport();
                default -> { }
            }
        }
        Map<Integer, Integer> codes = cluster.awaitExit(options.budget().plusSeconds(30));
        long shutdownMs = (System.nanoTime() - shutdownStart) / 1_000_000;
        for (Thread t : threads) {
            t.join(Duration.ofSeconds(30));
        }
        try {
            hook.get(30, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            throw e.getCause() instanceof Exception ex ? ex : e;
        }
        for (ExitSubscriber s : subscribers) {
            s.close();
        }
        progress.accept("all node processes ended; checking the database");
        Map<String, Set<Long>> rows = readRows(cluster.databaseUrl());
        return new DemoReport(options, plan, items, report, shutdownMs, shutdownAt, codes, clients, rows, copy(exits), copy(alive));
    }

    private static <T> Map<Integer, List<T>> copy(Map<Integer, ? extends java.util.Collection<T>> m) {
        Map<Integer, List<T>> out = new TreeMap<>();
        m.forEach((k, v) -> out.put(k, List.copyOf(v)));
        return out;
    }

    private PlanResponse awaitPlan(CoordinatorGrpc.CoordinatorBlockingStub coordinator) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        PlanResponse plan = null;
        while (System.nanoTime() < deadline) {
            plan = coordinator.plan(PlanRequest.newBuilder().setBudgetMs((int) options.budget().toMillis()).build());
            long gatewaySteps = plan.getStepsList().stream().filter(s -> s.getKind() == PlannedStep.Kind.DRAIN && s.getRole().equals("gateway")).count();
            long writerSteps = plan.getStepsList().stream().filter(s -> s.getKind() == PlannedStep.Kind.DRAIN && s.getRole().equals("writer")).count();
            if (gatewaySteps == 2 && writerSteps == 1) {
                if (!plan.getRefusal().isEmpty()) {
                    throw new IllegalStateException("the coordinator refuses the shutdown plan: " + plan.getRefusal());
                }
                return plan;
            }
            Thread.sleep(200);
        }
        throw new IllegalStateException("the coordinator did not see both gateways and the writer within 30 s; its plan: " + plan);
    }

    /**
     * One probe client per gateway, saying lines until one is stored: the writer is reachable from there.
     * Gives up after {@code within}; the probes join {@code clients}.
     */
    static void awaitWriterThrough(InetSocketAddress gateway, DemoClient.Tally tally, List<DemoClient> clients, Duration within)
            throws InterruptedException {
        long deadline = System.nanoTime() + within.toNanos();
        while (true) {
            DemoClient probe = new DemoClient(0, gateway, tally, Duration.ofSeconds(30)).stopAfterFirstAck();
            probe.run();
            if (probe.session != null) {
                clients.add(probe); // its lines count in the check like any other client's
            } // else it never connected (the gateway not listening yet), so it sent nothing
            if (!probe.acked.isEmpty()) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("no line could be stored through the gateway at " + gateway + " within "
                        + within.toSeconds() + " s: "
                        + probe.failure);
            }
            Thread.sleep(200);
        }
    }

    /**
     * Refuses a database that already holds records: the zero-loss check compares the clients'
     * acknowledgements with every row, so rows of an earlier run (a reused {@code --dir}, a
     * PostgreSQL database used before) would read as stored-but-not-acknowledged.
     *
     * @throws IllegalStateException saying what to do, or that the database cannot be opened
     */
    static void requireEmpty(String url) {
        try (Connection c = DriverManager.getConnection(url)) {
            boolean exists = false;
            try (var tables = c.getMetaData().getTables(null, null, null, new String[] {"TABLE"})) {
                while (tables.next()) {
                    exists |= tables.getString("TABLE_NAME").equalsIgnoreCase(dev.harbor.writer.Dialect.TABLE);
                }
            }
            if (!exists) {
                return;
            }
            long rows;
            try (var st = c.createStatement(); var r = st.executeQuery("SELECT COUNT(*) FROM " + dev.harbor.writer.Dialect.TABLE)) {
                r.next();
                rows = r.getLong(1);
            }
            if (rows > 0) {
                throw new IllegalStateException("the database " + url + " already holds " + rows + " records in "
                        + dev.harbor.writer.Dialect.TABLE + " (an earlier run's?), and the zero-loss check counts every row:"
                        + " give a new --dir (or none, for a fresh temporary one), or empty the table first (DELETE FROM "
                        + dev.harbor.writer.Dialect.TABLE + ")");
            }
        } catch (SQLException e) {
            throw new IllegalStateException("cannot open the demo's database " + url + ": " + e.getMessage(), e);
        }
    }

    /** Every stored (stream, seq), read once the writer's node has exited. */
    static Map<String, Set<Long>> readRows(String url) throws SQLException {
        return readRows(url, new java.util.Properties());
    }

    /** As {@link #readRows(String)}, with connection properties (user, password) besides the URL's. */
    static Map<String, Set<Long>> readRows(String url, java.util.Properties properties) throws SQLException {
        Map<String, Set<Long>> rows = new HashMap<>();
        try (Connection c = DriverManager.getConnection(url, properties)) {
            for (var r : dev.harbor.writer.Dialect.stored(c)) {
                rows.computeIfAbsent(r.getStream(), k -> new HashSet<>()).add(r.getSeq());
            }
        }
        return rows;
    }
}
