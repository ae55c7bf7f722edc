package dev.harbor.plan;

import dev.harbor.service.Handle;
import java.time.Duration;
import java.util.Set;

/**
 * One step of a shutdown plan.
 *
 * @param id unique in its plan, e.g. {@code gateway::00010000000000000042}, {@code done:gateway},
 *     {@code stateless@2}, {@code node@2}
 * @param kind what the step does
 * @param node the node it acts on (0 for a barrier)
 * @param service the registered service it drains ({@link Kind#DRAIN} only), else null
 * @param role the service's role ({@link Kind#DRAIN}), or the role it waits for ({@link Kind#BARRIER}), else null
 * @param timeout how long it may take before it is escalated
 * @param after the ids of the steps that must finish before this one starts
 */
public record Step(String id, Kind kind, int node, Handle service, String role, Duration timeout, Set<String> after) {
    public Step {
        after = Set.copyOf(after);
    }

    /** What a step does. */
    public enum Kind {
        /** Send a registered service its shutdown message; done at its exit event; killed at the timeout. */
        DRAIN,
        /** End the unregistered services of a node; done when their exit events are in. */
        STATELESS,
        /** Stop a node; done at its monitor's exit event, the node's last. */
        NODE,
        /** Nothing to do: done when every step of one role is (the steps that wait for that role wait for it). */
        BARRIER
    }
}
