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
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
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
    /**
     * Holds the port while the server is cut: bound, not listening, so a call there is refused at once
     * as with nothing there, and no outgoing connection of this host (a subscriber dialling it again
     * among them) can be given the port before the server comes back on it.
     */
    private Socket hold;

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
            if (hold != null) {
                hold.close(); // let go just before the server binds the port again
                hold = null;
            }
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
        if (hold == null) { // else cut before and not served since: the port is held already
            try {
                hold = new Socket();
                hold.setReuseAddress(true); // the cut connections' TIME_WAIT on this port must not stop it
                hold.bind(new InetSocketAddress(port)); // every address, as the server binds it
            } catch (IOException e) {
                throw new UncheckedIOException("cannot hold port " + port + " while the server is cut", e);
            }
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
        try {
            hold.close();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        node.stop();
    }
}
