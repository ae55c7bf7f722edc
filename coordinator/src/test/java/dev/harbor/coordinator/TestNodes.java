package dev.harbor.coordinator;

import dev.harbor.cli.FreePorts;
import dev.harbor.security.BearerAuth;

import dev.harbor.admin.NodeAdminService;
import dev.harbor.transport.Harbor;
import dev.harbor.plan.Plan;
import dev.harbor.proto.CoordinatorGrpc;
import dev.harbor.service.Node;
import io.grpc.CallCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerBuilder;
import io.grpc.ServerInterceptors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;

/**
 * Nodes in this JVM, each with its harbor transport and admin API on its own loopback port, node 1
 * also hosting the coordinator. A node told to stop (by the admin API) stops as a process would. As
 * node processes with the cluster's token do, each node takes links only with {@link #TOKEN} and its
 * own links carry it, unless the test starts it without the token.
 */
final class TestNodes implements AutoCloseable {
    static final String TOKEN = "s3cret-token";

    /** One node. */
    final class Member {
        final int id;
        final Node node;
        final Harbor harbor;
        final Server server;
        final CompletableFuture<Void> stopped = new CompletableFuture<>();
        CoordinatorHost host;
        /** What the node does first when the admin API tells it to stop: nothing, or (a test's) a slow exit. */
        volatile Runnable beforeStop = () -> { };

        Member(int id, Node node, Harbor harbor, Server server) {
            this.id = id;
            this.node = node;
            this.harbor = harbor;
            this.server = server;
        }

        /** What the node process does on a Stop: stop the node, then its links, then its server. */
        void stop() {
            if (stopped.isDone()) {
                return;
            }
            node.stop();
            if (host != null) {
                host.close();
            }
            harbor.close();
            server.shutdown();
            stopped.complete(null);
        }
    }

    final Map<Integer, Member> members = new TreeMap<>();
    private final Map<Integer, String> addresses = new TreeMap<>();
    private final List<ManagedChannel> channels = new ArrayList<>();
    private final Path stateDir;
    private final Plan.Timeouts timeouts;
    private final Set<Integer> tokenless;

    TestNodes(Path stateDir, int... ids) {
        this(stateDir, new Plan.Timeouts(Duration.ofSeconds(2), Duration.ofSeconds(5)), ids);
    }

    /** As {@link #TestNodes(Path, int...)}, with the coordinator's timeouts for stateless and node steps. */
    TestNodes(Path stateDir, Plan.Timeouts timeouts, int... ids) {
        this(stateDir, timeouts, Set.of(), ids);
    }

    /**
     * As {@link #TestNodes(Path, Plan.Timeouts, int...)}, with the nodes {@code tokenless} holding no token:
     * they take any link, and their own links, carrying none, are refused by the nodes that hold it.
     */
    TestNodes(Path stateDir, Plan.Timeouts timeouts, Set<Integer> tokenless, int... ids) {
        this.timeouts = timeouts;
        this.stateDir = stateDir;
        this.tokenless = Set.copyOf(tokenless);
        for (int id : ids) {
            addresses.put(id, "127.0.0.1:" + FreePorts.loopback());
        }
        for (int id : ids) {
            start(id, id == ids[0]);
        }
    }

    private void start(int id, boolean coordinator) {
        String address = addresses.get(id);
        Node node = Node.builder().id(id).build();
        String linkToken = tokenless.contains(id) ? null : TOKEN;
        Harbor harbor = Harbor.builder(node).cluster("test").advertise(address).peers(List.copyOf(addresses.values()))
                .credentials(BearerAuth.withToken(InsecureChannelCredentials.create(), linkToken))
                .heartbeat(Duration.ofMillis(250))
                // One test here loses a node on purpose, and waits these 3 s; a shorter loss timeout only let a
                // busy machine's pauses declare two healthy nodes lost to each other for good (they then refuse
                // to relink).
                .lossTimeout(Duration.ofMillis(3000)).build();
        Member[] self = new Member[1];
        NodeAdminService admin = new NodeAdminService(node, harbor.incarnation(), () -> Thread.ofVirtual().start(() -> {
            self[0].beforeStop.run();
            self[0].stop();
        }));
        ServerBuilder<?> sb = Grpc.newServerBuilderForPort(Integer.parseInt(address.substring(address.indexOf(':') + 1)),
                InsecureServerCredentials.create()).directExecutor()
                .addService(ServerInterceptors.intercept(harbor.linkService(), BearerAuth.forToken(linkToken)))
                .addService(admin);
        CoordinatorHost host = null;
        if (coordinator) {
            host = new CoordinatorHost(node, harbor, TOKEN, false, stateDir, Duration.ofSeconds(30), timeouts);
            sb.addService(host.api());
        }
        Server server;
        try {
            server = sb.build().start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        harbor.start();
        Member m = new Member(id, node, harbor, server);
        m.host = host;
        self[0] = m;
        if (host != null) {
            host.start();
        }
        members.put(id, m);
    }

    /**
     * Starts node {@code id} again, a new life at the same address, once its old life has stopped (as a
     * supervisor restarts a process that exited). Not for the coordinator's node.
     */
    Member restart(int id) {
        Member old = members.get(id);
        old.stopped.join();
        old.server.shutdownNow(); // its process has exited: nothing of it is left open
        try {
            old.server.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
        start(id, false);
        return members.get(id);
    }

    Member get(int id) {
        return members.get(id);
    }

    /** The Coordinator API of node 1, with {@code token} as the bearer token (null: none). */
    CoordinatorGrpc.CoordinatorBlockingStub coordinator(String token) {
        ManagedChannel c = Grpc.newChannelBuilder(addresses.get(members.keySet().iterator().next()),
                InsecureChannelCredentials.create()).build();
        channels.add(c);
        CoordinatorGrpc.CoordinatorBlockingStub stub = CoordinatorGrpc.newBlockingStub(c);
        return token == null ? stub : stub.withCallCredentials(bearer(token));
    }

    static CallCredentials bearer(String token) {
        return BearerAuth.credentials(token);
    }

    @Override
    public void close() {
        channels.forEach(ManagedChannel::shutdownNow);
        for (Member m : members.values()) {
            m.stop();
            try {
                m.server.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
