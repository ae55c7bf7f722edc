package dev.harbor.transport;

import dev.harbor.service.Node;
import dev.harbor.service.Scheduler;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Server;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;

/** Nodes in this JVM, each with its own gRPC server on a loopback port, linked by real streams. */
final class TestCluster implements AutoCloseable {

    /** One node, its transport and its server. */
    static final class Member {
        final Node node;
        final Harbor harbor;
        final Server server;
        final String address;

        Member(Node node, Harbor harbor, Server server, String address) {
            this.node = node;
            this.harbor = harbor;
            this.server = server;
            this.address = address;
        }

        /** Cuts this member off as a crash would: no goodbye, its services are not stopped. */
        void crash() {
            server.shutdownNow();
            harbor.close();
        }

        void stop() {
            node.stop();
            harbor.close();
            server.shutdownNow();
            try {
                server.awaitTermination(5, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    final Map<Integer, Member> members = new TreeMap<>();
    final Map<Integer, String> addresses = new TreeMap<>();
    private final List<Member> all = new ArrayList<>();
    final UnaryOperator<Harbor.Builder> settings;

    TestCluster(UnaryOperator<Harbor.Builder> settings) {
        this.settings = settings;
    }

    TestCluster() {
        this(b -> b.heartbeat(Duration.ofMillis(100)).lossTimeout(Duration.ofMillis(600)));
    }

    /** Reserves an address for each node id, so every member can list all the others as peers. */
    TestCluster plan(int... ids) {
        for (int id : ids) {
            addresses.put(id, "127.0.0.1:" + freePort());
        }
        return this;
    }

    /** Starts node {@code id} at its planned address, with every planned address as a peer. */
    Member start(int id) {
        return start(id, "harbor", settings);
    }

    Member start(int id, String cluster, UnaryOperator<Harbor.Builder> more) {
        return start(id, cluster, more, Node.builder().id(id));
    }

    /** Starts node {@code id} on {@code scheduler} (its timers, the link timer among them, and its clock). */
    Member start(int id, Scheduler scheduler) {
        return start(id, "harbor", settings, Node.builder().id(id).scheduler(scheduler));
    }

    private Member start(int id, String cluster, UnaryOperator<Harbor.Builder> more, Node.Builder nodeBuilder) {
        String address = addresses.computeIfAbsent(id, i -> "127.0.0.1:" + freePort());
        Node node = nodeBuilder.build();
        Harbor harbor = more.apply(Harbor.builder(node).cluster(cluster).advertise(address)
                .peers(new ArrayList<>(addresses.values()))).build();
        int port = Integer.parseInt(address.substring(address.indexOf(':') + 1));
        Server server;
        try {
            server = Grpc.newServerBuilderForPort(port, InsecureServerCredentials.create())
                    .directExecutor().addService(harbor.linkService()).build().start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        harbor.start();
        Member m = new Member(node, harbor, server, address);
        members.put(id, m);
        all.add(m);
        return m;
    }

    Member get(int id) {
        return members.get(id);
    }

    static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        for (Member m : all) {
            m.stop();
        }
    }
}
