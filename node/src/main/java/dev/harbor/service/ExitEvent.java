package dev.harbor.service;

import java.time.Instant;
import java.util.List;

/**
 * The one event published when a service ends.
 *
 * @param seq the node's sequence number for this event: 1 for the first exit of a node's life, then
 *     one more for each exit, with no gaps
 * @param handle the service
 * @param names the names it held when it ended (now released)
 * @param node the id of its node
 * @param reason how it ended
 * @param time when it ended
 * @param detail more words on the reason (the init error, who killed it), or empty
 */
public record ExitEvent(long seq, Handle handle, List<String> names, int node, ExitReason reason, Instant time, String detail) {
    public ExitEvent {
        names = List.copyOf(names);
        detail = detail == null ? "" : detail;
    }

    @Override
    public String toString() {
        return "#" + seq + " " + handle + (names.isEmpty() ? "" : " " + names) + " " + reason
                + (detail.isEmpty() ? "" : " (" + detail + ")");
    }
}
