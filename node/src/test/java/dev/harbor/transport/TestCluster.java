package dev.harbor.transport;

import dev.harbor.service.Node;
import dev.harbor.service.Scheduler;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Server;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
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
    /**
     * The planned addresses' ports, each held by a bound socket until its node starts: a port found
     * free and let go at once could be taken meanwhile by an outgoing connection (the members dial
     * each other), since the system hands such ports out from the same range, and it does not hand
     * out a bound one. Bound, not listening: a dial to a node not started yet is refused at once, as
     * with nothing there.
     */
    private final Map<String, Socket> reserved = new TreeMap<>();
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
            try {
                Socket s = new Socket();
                s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
                String address = "127.0.0.1:" + s.getLocalPort();
                reserved.put(address, s);
                addresses.put(id, address);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
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
            Socket reservation = reserved.remove(address);
            if (reservation != null) {
                reservation.close(); // let go just before the node's server binds the port
            }
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
        for (Socket s : reserved.values()) {
            try {
                s.close(); // planned, never started
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }
}
