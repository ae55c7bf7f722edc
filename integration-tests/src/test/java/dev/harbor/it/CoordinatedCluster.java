package dev.harbor.it;

import static org.awaitility.Awaitility.await;

import dev.harbor.proto.CoordinatorGrpc;
import dev.harbor.proto.ListServicesRequest;
import dev.harbor.proto.PlanResponse;
import dev.harbor.proto.PlannedStep;
import dev.harbor.proto.ServiceInfo;
import dev.harbor.proto.ShutdownRequest;
import dev.harbor.service.Handle;
import io.grpc.ManagedChannel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * A {@link ProcessCluster} whose node 1 hosts the shutdown coordinator (with a state directory), every
 * node holding the cluster's token ({@link #TOKEN}, in a file), plus what coordinator tests need: service specs for {@link Registered} services that
 * note what they do in one shared {@link Journal}, and the {@code Coordinator} API with or without the
 * token.
 */
final class CoordinatedCluster implements AutoCloseable {
    static final int COORDINATOR_NODE = 1;
    static final String TOKEN = "it-coordinator-secret-7c1e";
    static final Duration WAIT = CoordinatorClient.WAIT;

    final ProcessCluster cluster;
    final Journal journal;
    final Path tokenFile;
    final Path stateDir;
    private ManagedChannel coordinatorChannel;

    CoordinatedCluster(String name, int... ids) {
        cluster = new ProcessCluster(name, ids);
        journal = new Journal(cluster.dir().resolve("journal.txt").toAbsolutePath());
        tokenFile = cluster.dir().resolve("coordinator.token").toAbsolutePath();
        stateDir = cluster.dir().resolve("coordinator-state").toAbsolutePath();
        try {
            Files.writeString(tokenFile, TOKEN + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        cluster.token(TOKEN, tokenFile); // every node holds it, as README asks
    }

    /**
     * Turns mutual TLS on for every node started from now on, each presenting {@code cert} (issued by
     * {@code ca}) and requiring the same of its peers and clients. The test's own channels present
     * {@code cert} as well.
     */
    CoordinatedCluster secure(TestCa ca, TestCa.Issued cert) {
        cluster.secure(Map.of("tls.cert", cert.cert().toString(), "tls.key", cert.key().toString(), "tls.ca",
                ca.certificate.toString(), "tls.client-auth", "require"),
                dev.harbor.security.Tls.client(ca.certificate, cert.cert(), cert.key()));
        return this;
    }

    /** Starts node {@code id}: node 1 with the coordinator; {@code dependsOn} its node dependencies. */
    NodeProcess start(int id, String services, int... dependsOn) {
        Map<String, String> extra = new HashMap<>();
        if (id == COORDINATOR_NODE) {
            extra.put("coordinator.enabled", "true");
            extra.put("coordinator.state-dir", stateDir.toString());
        }
        if (dependsOn.length > 0) {
            extra.put("node.depends-on", String.join(",", java.util.Arrays.stream(dependsOn).mapToObj(Integer::toString).toList()));
        }
        return cluster.start(id, services, extra);
    }

    NodeProcess process(int id) {
        return cluster.process(id);
    }

    /** A {@link Registered} service's spec, journalling to this cluster's journal. */
    String registered(String name, String role, long drainTimeoutMs, String dependsOn, String mode) {
        return "dev.harbor.it.Registered(" + String.join(";", name, role, Long.toString(drainTimeoutMs), dependsOn, mode,
                journal.file().toString()) + ")";
    }

    String registered(String name, String role, long drainTimeoutMs) {
        return registered(name, role, drainTimeoutMs, "", "exit");
    }

    static String relay(String name) {
        return "dev.harbor.it.Relay(" + name + ")";
    }

    static String services(String... specs) {
        return String.join(",", specs);
    }

    /** The coordinator's API, sending {@code token} (none if null). */
    CoordinatorGrpc.CoordinatorBlockingStub coordinator(String token) {
        return client().blocking(token);
    }

    CoordinatorGrpc.CoordinatorStub coordinatorAsync(String token) {
        return client().async(token);
    }

    private synchronized CoordinatorClient client() {
        if (coordinatorChannel == null) {
            coordinatorChannel = cluster.channel(COORDINATOR_NODE);
        }
        return new CoordinatorClient(coordinatorChannel, TOKEN);
    }

    /** Starts a shutdown with the token and follows its progress. */
    ProgressRecorder shutdown(ShutdownRequest request) {
        return client().shutdown(request);
    }

    PlanResponse plan(int budgetMs) {
        return client().plan(budgetMs);
    }

    /** Waits until the coordinator's plan (at a generous budget) satisfies {@code ready}; returns it. */
    PlanResponse awaitPlan(Predicate<PlanResponse> ready) {
        return client().awaitPlan(ready);
    }

    /** A plan over {@code nodes} nodes with {@code drains} drain steps and no refusal. */
    static Predicate<PlanResponse> planWith(int nodes, int drains) {
        return p -> p.getRefusal().isEmpty() && p.getNodesCount() == nodes && drainSteps(p).size() == drains;
    }

    /** Whether step {@code before} must finish before step {@code later} starts, directly or through other steps. */
    static boolean precedes(PlanResponse p, String before, String later) {
        Map<String, List<String>> after = new HashMap<>();
        p.getStepsList().forEach(s -> after.put(s.getId(), s.getAfterList()));
        java.util.Deque<String> todo = new java.util.ArrayDeque<>(after.getOrDefault(later, List.of()));
        java.util.Set<String> seen = new java.util.HashSet<>();
        while (!todo.isEmpty()) {
            String s = todo.pop();
            if (s.equals(before)) {
                return true;
            }
            if (seen.add(s)) {
                todo.addAll(after.getOrDefault(s, List.of()));
            }
        }
        return false;
    }

    static List<PlannedStep> drainSteps(PlanResponse p) {
        return p.getStepsList().stream().filter(s -> s.getKind() == PlannedStep.Kind.DRAIN).toList();
    }

    /** The handle of the live service named {@code name} on node {@code id}, from its admin API. */
    Handle handleOf(int id, String name) {
        return handleOf(find(id, name), id, name);
    }

    /** The handle of {@code found}, a service named {@code name} looked up on node {@code id}; fails if there is none. */
    static Handle handleOf(Optional<ServiceInfo> found, int id, String name) {
        return found.map(CoordinatedCluster::handle).orElseThrow(() -> new AssertionError("node " + id + " lists no service named " + name));
    }

    static Handle handle(ServiceInfo s) {
        return Handle.of(s.getHandle().getNode(), s.getHandle().getId());
    }

    Optional<ServiceInfo> find(int id, String name) {
        return services(id).stream().filter(s -> s.getNamesList().contains(name)).findFirst();
    }

    List<ServiceInfo> services(int id) {
        return cluster.admin(id).withDeadlineAfter(10, TimeUnit.SECONDS).listServices(ListServicesRequest.getDefaultInstance())
                .getServicesList();
    }

    /** Waits until nodes {@code a} and {@code b} have linked to each other, as their logs say. */
    void awaitLinked(int a, int b) {
        await().atMost(WAIT).until(() -> logSays(a, "node " + a + ": linked to node " + b + " at")
                && logSays(b, "node " + b + ": linked to node " + a + " at"));
    }

    /** Whether node {@code id}'s log has a line containing {@code text}. */
    boolean logSays(int id, String text) {
        try {
            return Files.readString(process(id).log).contains(text);
        } catch (IOException e) {
            return false;
        }
    }

    @Override
    public void close() {
        cluster.close();
    }
}
