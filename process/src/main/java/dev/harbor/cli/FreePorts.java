package dev.harbor.cli;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Loopback ports for nodes that are told their addresses before they start: how the demo and the
 * tests give each of their node processes a port its peers can be told in advance.
 *
 * <p>A port found by binding port 0 is an ephemeral one: the system also hands those to outgoing
 * connections, and a node that dials its peers may take it before the process meant to listen there
 * binds it ("Address already in use" at that node's start). So {@link #next} takes ports below every
 * common ephemeral range (Linux 32768-60999, others from 49152), checks each is free by binding it,
 * and never hands out the same port twice in this JVM unless it has gone round all of them. A port
 * can still be taken between this check and its use by another program that picks ports the same
 * way; that is the one window left.
 *
 * <p>Threading: any thread; the next port to try is an atomic counter that starts at a random place,
 * so JVMs that run side by side tend to try different ports.
 */
public final class LoopbackPorts {
    /** The first port tried, above the well-known and most registered ports. */
    static final int FIRST = 20_000;
    /** How many ports are tried, from {@link #FIRST}: up to 31999, below every ephemeral range. */
    static final int COUNT = 12_000;
    private static final AtomicInteger NEXT = new AtomicInteger(ThreadLocalRandom.current().nextInt(COUNT));

    private LoopbackPorts() {
    }

    /**
     * A port on the loopback address that nothing listens on now, between {@value #FIRST} and
     * {@code FIRST + COUNT - 1}.
     *
     * @throws IllegalStateException if every port of that range is taken
     */
    public static int next() {
        for (int tries = 0; tries < COUNT; tries++) {
            int port = FIRST + Math.floorMod(NEXT.getAndIncrement(), COUNT);
            try (ServerSocket s = new ServerSocket()) {
                s.setReuseAddress(false);
                s.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
                return port;
            } catch (IOException e) {
                continue; // in use: the next one
            }
        }
        throw new IllegalStateException("no free loopback port between " + FIRST + " and " + (FIRST + COUNT - 1)
                + ": free some, or give the nodes their ports yourself");
    }
}
