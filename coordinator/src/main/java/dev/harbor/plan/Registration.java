package dev.harbor.plan;

import dev.harbor.service.Handle;
import java.time.Duration;
import java.util.Objects;
import java.util.Set;

/**
 * A service that needs an ordered exit, as it registered with the coordinator.
 *
 * @param handle the service
 * @param role {@link Role#GATEWAY}, {@link Role#WRITER}, or a custom role
 * @param dependsOn the roles this service depends on: it stops before every service of those roles
 * @param drainTimeout how long its drain may take before the coordinator kills it
 */
public record Registration(Handle handle, String role, Set<String> dependsOn, Duration drainTimeout) {
    public Registration {
        Objects.requireNonNull(handle, "handle");
        if (!Role.isValid(role)) {
            throw new IllegalArgumentException("'" + role + "' is not a role: use lower-case letters, digits, '-' or '_'");
        }
        dependsOn = Set.copyOf(dependsOn);
        for (String d : dependsOn) {
            if (!Role.isValid(d)) {
                throw new IllegalArgumentException("'" + d + "' is not a role: use lower-case letters, digits, '-' or '_'");
            }
        }
        if (drainTimeout == null || drainTimeout.isNegative() || drainTimeout.isZero()) {
            throw new IllegalArgumentException("the drain timeout of " + handle + " must be positive, got " + drainTimeout);
        }
    }

    /** The node the service runs on. */
    public int node() {
        return handle.node();
    }
}
