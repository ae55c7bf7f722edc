package dev.harbor.coordinator;

import dev.harbor.admin.Wire;
import dev.harbor.proto.ExitEvent;
import dev.harbor.proto.ExitReason;
import dev.harbor.proto.ServiceInfo;
import dev.harbor.service.Handle;
import dev.harbor.shutdown.OrderedExit;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * Which nodes and services are alive, as the exit streams tell it. Owned by the coordinator service:
 * only its handlers touch it, one at a time.
 */
final class ClusterView {
    /** One node: its life, its address, its live services. */
    static final class NodeState {
        final int id;
        long incarnation;
        String address;
        boolean caughtUp;
        boolean lost;
        Handle monitor;
        final Map<Handle, ServiceInfo> alive = new LinkedHashMap<>();
        /** Services of this life seen to exit, so a list polled before an exit cannot bring one back. */
        final java.util.Set<Handle> exited = new java.util.HashSet<>();

        NodeState(int id) {
            this.id = id;
        }
    }

    private final Map<Integer, NodeState> nodes = new HashMap<>();

    NodeState node(int id) {
        return nodes.computeIfAbsent(id, NodeState::new);
    }

    /** A node's stream started over; a new life replaces everything known of the old one. */
    void identity(Feed.Identity id) {
        NodeState n = node(id.node());
        if (n.incarnation != id.incarnation()) {
            n.alive.clear();
            n.exited.clear();
            n.monitor = null;
        }
        n.incarnation = id.incarnation();
        n.address = id.address();
        n.lost = false;
        n.caughtUp = false;
    }

    void alive(Feed.Alive a) {
        Handle h = Wire.handle(a.service().getHandle());
        NodeState n = node(h.node());
        n.alive.put(h, a.service());
        if (a.service().getTagsMap().containsKey(dev.harbor.exit.Monitor.TAG)) {
            n.monitor = h;
        }
    }

    /**
     * Applies an exit.
     *
     * @return true if the service was alive until now (the first report of its exit)
     */
    boolean exit(ExitEvent e) {
        Handle h = Wire.handle(e.getHandle());
        NodeState n = node(h.node());
        boolean wasAlive = n.alive.remove(h) != null;
        n.exited.add(h);
        if (h.equals(n.monitor)) {
            // Each of a lost node's services gets its own NODE_LOST event; they stay alive here until
            // theirs arrives, so the steps that wait for them end when it does.
            n.lost = e.getReason() == ExitReason.NODE_LOST;
        }
        return wasAlive;
    }

    /** Takes in a polled list: services not known yet, unless they have exited since. */
    void listed(Feed.Listed l) {
        NodeState n = node(l.node());
        for (ServiceInfo s : l.services()) {
            Handle h = Wire.handle(s.getHandle());
            if (!n.exited.contains(h) && h.node() == l.node()) {
                alive(new Feed.Alive(l.node(), s));
            }
        }
    }

    /** Nodes whose stream is caught up and that are not lost. */
    Set<Integer> liveNodes() {
        Set<Integer> out = new TreeSet<>();
        nodes.forEach((id, n) -> {
            if (n.caughtUp && !n.lost && n.monitor != null && n.alive.containsKey(n.monitor)) {
                out.add(id);
            }
        });
        return out;
    }

    boolean isAlive(Handle h) {
        NodeState n = nodes.get(h.node());
        return n != null && n.alive.containsKey(h);
    }

    Map<Integer, NodeState> nodes() {
        return nodes;
    }

    /** The registered services alive now: those tagged with a role. */
    Map<Handle, ServiceInfo> registered() {
        Map<Handle, ServiceInfo> out = new LinkedHashMap<>();
        for (NodeState n : nodes.values()) {
            n.alive.forEach((h, s) -> {
                if (s.getTagsMap().containsKey(OrderedExit.ROLE_TAG)) {
                    out.put(h, s);
                }
            });
        }
        return out;
    }
}
