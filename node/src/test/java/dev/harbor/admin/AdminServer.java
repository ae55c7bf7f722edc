package dev.harbor.admin;

import dev.harbor.service.InternalNode;
import dev.harbor.service.Node;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Server;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A node's admin API on a loopback port of this JVM, served the way a node process serves it (direct
 * executor). The server can go away and come back on the same port, for the node's current life or
 * for a new one.
 */
final class AdminServer implements AutoCloseable {
    final int port;
    final AtomicInteger stopRequests = new AtomicInteger();
    private final int maxQueuedEvents;
    private Node node;
    private NodeAdminService admin;
    private Server server;
    private ManagedChannel channel;

    AdminServer(Node node) {
        this(node, NodeAdminService.DEFAULT_MAX_QUEUED_EVENTS);
    }

    AdminServer(Node node, int maxQueuedEvents) {
        this.port = freePort();
        this.maxQueuedEvents = maxQueuedEvents;
        serve(node);
    }

    String target() {
        return "127.0.0.1:" + port;
    }

    Node node() {
        return node;
    }

    NodeAdminService admin() {
        return admin;
    }

    /** A channel to the server, made once, closed with it. */
    synchronized ManagedChannel channel() {
        if (channel == null) {
            channel = Grpc.newChannelBuilder(target(), InsecureChannelCredentials.create()).build();
        }
        return channel;
    }

    /** Serves {@code n} on this server's port (a server must not be running). */
    void serve(Node n) {
        this.node = n;
        this.admin = new NodeAdminService(n, InternalNode.firstIdOfThisLife(n), stopRequests::incrementAndGet, maxQueuedEvents);
        try {
            server = Grpc.newServerBuilderForPort(port, InsecureServerCredentials.create()).directExecutor()
                    .addService(admin).build().start();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot serve on port " + port, e);
        }
    }

    /** The server goes away at once, as in a crash or a cut link; the node itself goes on. */
    void cut() {
        server.shutdownNow();
        try {
            server.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted while cutting the server", e);
        }
        // The shared channel may not have seen the server go yet, and would put the next call on the dead
        // connection (UNAVAILABLE, "closed after GOAWAY"): calls after a cut get a channel of their own.
        synchronized (this) {
            if (channel != null) {
                channel.shutdownNow();
                channel = null;
            }
        }
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
        if (channel != null) {
            channel.shutdownNow();
        }
        cut();
        node.stop();
    }
}
