package dev.harbor.cli;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Free ports for nodes whose port is chosen before they listen: a node configured with port 0 (it
 * must advertise its port before its server binds it), and the demo's and the tests' node processes,
 * whose peers are told their ports in advance.
 *
 * <p>A port found by binding port 0 is an ephemeral one: the system also hands those to outgoing
 * connections, and a node that dials its peers, or any other program on the host, may take it before
 * the process meant to listen there binds it ("Address already in use" at that node's start). So these
 * ports come from below every common ephemeral range (Linux 32768-60999, others from 49152), each
 * checked free by binding it, and the same port is not handed out twice in this JVM unless it has gone
 * round all of them. A port can still be taken between this check and its use by another program that
 * binds that very port; that is the one window left.
 *
 * <p>Threading: any thread; the next port to try is an atomic counter that starts at a random place,
 * so JVMs that run side by side tend to try different ports.
 */
public final class FreePorts {
    /** The first port tried, above the well-known and most registered ports. */
    static final int FIRST = 20_000;
    /** How many ports are tried, from {@link #FIRST}: up to 31999, below every ephemeral range. */
    static final int COUNT = 12_000;
    private static final AtomicInteger NEXT = new AtomicInteger(ThreadLocalRandom.current().nextInt(COUNT));

    private FreePorts() {
    }

    /**
     * A port on the loopback address that nothing listens on now, between {@value #FIRST} and
     * {@code FIRST + COUNT - 1}.
     *
     * @throws IllegalStateException if every port of that range is taken
     */
    public static int loopback() {
        return on(InetAddress.getLoopbackAddress());
    }

    /**
     * A port that nothing listens on now at {@code host} (every local address if null), between
     * {@value #FIRST} and {@code FIRST + COUNT - 1}.
     *
     * @throws IllegalStateException if every port of that range is taken there
     */
    public static int on(InetAddress host) {
        for (int tries = 0; tries < COUNT; tries++) {
            int port = FIRST + Math.floorMod(NEXT.getAndIncrement(), COUNT);
            try (ServerSocket s = new ServerSocket()) {
                s.setReuseAddress(false);
                s.bind(host == null ? new InetSocketAddress(port) : new InetSocketAddress(host, port));
                return port;
            } catch (IOException e) {
                continue; // in use: the next one
            }
        }
        throw new IllegalStateException("no free port between " + FIRST + " and " + (FIRST + COUNT - 1) + " on "
                + (host == null ? "any address" : host.getHostAddress()) + ": free some, or give the node its port yourself");
    }
}
