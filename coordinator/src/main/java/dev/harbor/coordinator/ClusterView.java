package dev.harbor.coordinator;

import dev.harbor.proto.ExitEvent;
import dev.harbor.proto.ExitReason;
import dev.harbor.proto.ServiceInfo;
import dev.harbor.service.Handle;
import dev.harbor.shutdown.OrderedExit;
import dev.harbor.wire.Wire;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * Which nodes and services are alive, as each node's own exit stream tells it. Owned by the coordinator
 * service: only its handlers touch it, one at a time.
 *
 * <p>A node, once seen, stays known until it is confirmed stopped (its monitor's NODE_STOPPED in its
 * own stream): a node that cannot be reached is not forgotten, it is a node the coordinator cannot
 * confirm. Every address the coordinator follows is known too, identified or not.
 */
final class ClusterView {
    /** A service of the node lists this tag with the nodes it depends on ({@code node.depends-on}). */
    static final String NODE_DEPENDS_ON_TAG = "harbor.node.depends-on";

    /** One node: its life, its address, its live services. */
    static final class NodeState {
        final int id;
        long incarnation;
        String address;
        boolean caughtUp;
        /** Its monitor ended NODE_LOST (by its own stream, or by this coordinator's node once checked). */
        boolean lost;
        /** Its monitor ended NODE_STOPPED in its own stream: it stopped (left) gracefully. */
        boolean stopped;
        /** Whether its own exit stream is connected now. */
        boolean streamUp;
        /** Why it could not be reached (its stream is down and its admin API did not answer), or null. */
        String unreachable;
        Handle monitor;
        final Map<Handle, ServiceInfo> alive = new LinkedHashMap<>();
        /** Services seen to exit, so a list polled before an exit cannot bring one back, and an exit counts once. */
        final Set<Handle> exited = new HashSet<>();
        /**
         * Services of an earlier life not listed alive by the current one yet: whatever is left of them
         * when the stream has caught up is gone, by the node's own word.
         */
        final Set<Handle> earlierLife = new HashSet<>();
        /**
         * NODE_LOST verdicts of this coordinator's own node's transport about this node, held back while
         * the node's own stream or admin API answers (they apply only once both do not).
         */
        final Map<Handle, ExitEvent> heldLosses = new LinkedHashMap<>();

        NodeState(int id) {
            this.id = id;
        }
    }

    private final Map<Integer, NodeState> nodes = new HashMap<>();
    /** Every address followed, with the node that answered there (null: none yet) and the last error. */
    private final Map<String, Integer> addresses = new TreeMap<>();
    private final Map<String, String> addressErrors = new HashMap<>();
    private final Map<Integer, Set<Integer>> nodeDependencies = new HashMap<>();

    NodeState node(int id) {
        return nodes.computeIfAbsent(id, NodeState::new);
    }

    /** An address the coordinator follows (configured, resolved, or a peer seen): known from now on. */
    void known(String address) {
        addresses.putIfAbsent(address, null);
    }

    /**
     * A node's stream (re)started. A new life does not wipe the old one's services: their NODE_LOST
     * events (the subscriber's, or the node's own backlog) end them, and whatever of the old life is not
     * listed again by the time the stream has caught up is gone too ({@link #caughtUp}).
     */
    void identity(Feed.Identity id) {
        NodeState n = node(id.node());
        if (n.incarnation != 0 && n.incarnation != id.incarnation()) {
            n.earlierLife.addAll(n.alive.keySet());
            n.lost = false;
            n.stopped = false;
        }
        n.incarnation = id.incarnation();
        n.address = id.address();
        n.streamUp = true;
        n.unreachable = null;
        n.caughtUp = false;
        // Its own stream answers: the transport's verdicts held back are not believed (an earlier
        // life's services end by their own NODE_LOST events, or at caught-up).
        n.heldLosses.clear();
        addresses.put(id.address(), id.node());
        addressErrors.remove(id.address());
    }

    /**
     * The stream has delivered the alive list and the backlog.
     *
     * @return the services of an earlier life still listed alive: gone (the caller ends them)
     */
    List<ServiceInfo> caughtUp(int id) {
        NodeState n = node(id);
        n.caughtUp = true;
        List<ServiceInfo> gone = new ArrayList<>();
        for (Handle h : n.earlierLife) {
            ServiceInfo s = n.alive.get(h);
            if (s != null) {
                gone.add(s);
            }
        }
        n.earlierLife.clear();
        return gone;
    }

    /** A node's stream (or, for {@code node} null, an address never identified) went down. */
    void disconnected(String address, Integer node, String why) {
        if (node == null) {
            addressErrors.put(address, why);
            return;
        }
        NodeState n = node(node);
        if (address.equals(n.address)) {
            n.streamUp = false;
        }
    }

    void alive(Feed.Alive a) {
        Handle h = Wire.handle(a.service().getHandle());
        NodeState n = node(h.node());
        if (n.exited.contains(h)) {
            return;
        }
        n.alive.put(h, a.service());
        n.earlierLife.remove(h);
        Map<String, String> tags = a.service().getTagsMap();
        if (tags.containsKey(dev.harbor.service.Monitor.TAG)) {
            n.monitor = h;
            // A live monitor not seen to exit: the node runs. After a loss this is its new life in the same
            // process (same stream identity), whose old monitor ended NODE_LOST.
            n.lost = false;
        }
        String deps = tags.get(NODE_DEPENDS_ON_TAG);
        if (deps != null) {
            Set<Integer> on = new TreeSet<>();
            for (String d : deps.split(",")) {
                if (!d.isBlank()) {
                    on.add(Integer.parseInt(d.strip()));
                }
            }
            nodeDependencies.put(h.node(), on);
        }
    }

    /**
     * Applies an exit.
     *
     * @return true if this is the first report of the service's exit (whether or not it was seen alive:
     *     a restarted coordinator learns of exits it missed from the backlog)
     */
    boolean exit(ExitEvent e) {
        Handle h = Wire.handle(e.getHandle());
        NodeState n = node(h.node());
        n.alive.remove(h);
        n.earlierLife.remove(h);
        n.heldLosses.remove(h);
        boolean first = n.exited.add(h);
        if (h.equals(n.monitor)) {
            // Each of a lost node's services gets its own NODE_LOST event; they stay alive here until
            // theirs arrives, so the steps that wait for them end when it does.
            n.lost = e.getReason() == ExitReason.NODE_LOST;
            n.stopped = e.getReason() == ExitReason.NODE_STOPPED;
        }
        return first;
    }

    /** Takes in a polled list: services not known yet, unless they have exited since. */
    void listed(Feed.Listed l) {
        for (ServiceInfo s : l.services()) {
            Handle h = Wire.handle(s.getHandle());
            if (h.node() == l.node()) {
                alive(new Feed.Alive(l.node(), s));
            }
        }
    }

    /**
     * The nodes a shutdown plans over: every node seen that was not confirmed stopped, reachable or
     * not (the steps of one that cannot be reached end LOST, saying why, and the run is not clean).
     */
    Set<Integer> knownNodes() {
        Set<Integer> out = new TreeSet<>();
        nodes.forEach((id, n) -> {
            if (n.incarnation != 0 && !n.stopped) {
                out.add(id);
            }
        });
        return out;
    }

    /** Whether some node's stream is in: without one the coordinator sees nothing. */
    boolean anyCaughtUp() {
        return nodes.values().stream().anyMatch(n -> n.caughtUp);
    }

    /** Addresses followed where no node ever answered, with the last error seen there. */
    Map<String, String> unidentified() {
        Map<String, String> out = new TreeMap<>();
        addresses.forEach((a, id) -> {
            if (id == null) {
                out.put(a, addressErrors.getOrDefault(a, "no answer yet"));
            }
        });
        return out;
    }

    /** For each node, the nodes it depends on, as its own list or its RegisterNode said. */
    Map<Integer, Set<Integer>> nodeDependencies() {
        return nodeDependencies;
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
