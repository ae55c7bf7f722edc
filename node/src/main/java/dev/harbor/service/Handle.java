package dev.harbor.service;

import java.util.Locale;
import java.util.Objects;

/**
 * The name of one service, for ever.
 *
 * <p>A handle carries the id of the node the service runs on and a local id that node never gives
 * out twice, not even after a restart: a node seeds its id counter from the wall clock at start
 * (2<sup>22</sup> ids per millisecond since 2026), so the ids of a new life start above every id
 * the previous life could have handed out. A message to the handle of a service that has exited is
 * therefore always answered with "gone", never delivered to a newer service.
 *
 * <p>Printed as {@code :} followed by 4 hex digits of node id and 16 of local id, for example
 * {@code :00010000000000000042}; {@link #parse} reads that form back.
 */
public final class Handle implements Comparable<Handle> {
    /** Largest node id: node ids are 16 bits. */
    public static final int MAX_NODE = 0xFFFF;

    private final int node;
    private final long id;
    /**
     * The service's cell when this handle was made by the node that hosts it: a shortcut that spares
     * a table lookup per message. Not part of the handle's identity. Written once, before the handle
     * is published.
     */
    final transient ServiceCell cell;

    /** A handle for the service with local id {@code id} on node {@code node}. */
    public static Handle of(int node, long id) {
        return new Handle(node, id, null);
    }

    /** Whether {@link #of} accepts {@code node} and {@code id}: a node id from 1 to {@link #MAX_NODE}, a positive local id. */
    public static boolean isValid(int node, long id) {
        return whyInvalid(node, id) == null;
    }

    /** What is wrong with {@code node} and {@code id} as a handle's, or null if nothing is. */
    private static String whyInvalid(int node, long id) {
        if (node < 1 || node > MAX_NODE) {
            return "node id " + node + " is out of range: node ids are 1 to " + MAX_NODE;
        }
        if (id < 1) {
            return "local id " + id + " is out of range: local ids are positive";
        }
        return null;
    }

    Handle(int node, long id, ServiceCell cell) {
        String why = whyInvalid(node, id);
        if (why != null) {
            throw new IllegalArgumentException(why);
        }
        this.node = node;
        this.id = id;
        this.cell = cell;
    }

    /**
     * Reads a handle in its printed form, {@code :NNNNIIIIIIIIIIIIIIII}.
     *
     * @throws IllegalArgumentException if {@code text} is not a handle, saying what was expected
     */
    public static Handle parse(String text) {
        Objects.requireNonNull(text, "text");
        if (text.length() != 21 || text.charAt(0) != ':') {
            throw new IllegalArgumentException("'" + text + "' is not a handle: expected ':' followed by 20 hex digits, like :00010000000000000042");
        }
        try {
            int node = Integer.parseInt(text, 1, 5, 16);
            long id = Long.parseUnsignedLong(text, 5, 21, 16);
            return new Handle(node, id, null);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("'" + text + "' is not a handle: expected ':' followed by 20 hex digits, like :00010000000000000042", e);
        }
    }

    /** The id of the node that hosts (or hosted) the service. */
    public int node() {
        return node;
    }

    /** The service's local id, unique on its node for ever. */
    public long id() {
        return id;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Handle h && h.node == node && h.id == id;
    }

    @Override
    public int hashCode() {
        return Long.hashCode(id) * 31 + node;
    }

    @Override
    public int compareTo(Handle o) {
        int c = Integer.compare(node, o.node);
        return c != 0 ? c : Long.compare(id, o.id);
    }

    @Override
    public String toString() {
        return String.format(Locale.ROOT, ":%04x%016x", node, id);
    }
}
