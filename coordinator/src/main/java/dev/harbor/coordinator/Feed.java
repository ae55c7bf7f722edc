package dev.harbor.coordinator;

import dev.harbor.proto.ExitEvent;
import dev.harbor.proto.ServiceInfo;

/**
 * What the coordinator hears from one node's exit stream, as messages to the coordinator service (so
 * they are handled one at a time, in order, with everything else it does).
 */
sealed interface Feed {
    int node();

    /** The stream (re)started: the node's life and address. */
    record Identity(int node, long incarnation, String address) implements Feed {
    }

    /** A service alive when the stream started. */
    record Alive(int node, ServiceInfo service) implements Feed {
    }

    /** The alive list and the backlog are in. */
    record CaughtUp(int node) implements Feed {
    }

    /** The node's service list, polled: how services launched after the stream started become known. */
    record Listed(int node, java.util.List<ServiceInfo> services) implements Feed {
    }

    /**
     * An exit event the node {@code node} published or its subscriber synthesised: its own services', or
     * NODE_LOST for a lost peer's (then the event's handle is of another node).
     */
    record Exit(int node, ExitEvent event) implements Feed {
    }

    /** An address the coordinator follows from now on (configured, resolved or seen); {@code node} 0. */
    record Known(int node, String address) implements Feed {
    }

    /** The stream at {@code address} ended; {@code node} is who answered there, 0 if nobody ever did. */
    record Disconnected(int node, String address, String why) implements Feed {
    }

    /** A node whose stream is down did not answer its admin API either. */
    record Unreachable(int node, String address, String why) implements Feed {
    }
}
