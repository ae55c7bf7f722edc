package dev.harbor.shutdown;

import dev.harbor.proto.RegisterService;
import dev.harbor.service.CallException;
import dev.harbor.service.ServiceContext;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.slf4j.LoggerFactory;

/**
 * How a service asks for an ordered exit: it registers with the shutdown coordinator from its init,
 * and when the coordinator sends it a {@link dev.harbor.proto.Drain} message it finishes its work and
 * calls {@link ServiceContext#exit()}. The coordinator takes the exit event as the proof that the step
 * is done; if none comes within the drain timeout, it kills the service.
 *
 * <p>Registration tags the service ({@link #ROLE_TAG}, {@link #DEPENDS_ON_TAG}, {@link #DRAIN_TIMEOUT_TAG}),
 * so a coordinator that starts (or restarts) later learns it from the node's service list; if a
 * coordinator is running, the registration is also sent to it and its answer returned.
 */
public final class OrderedExit {
    /** The global name of the shutdown coordinator. */
    public static final String COORDINATOR = "harbor.coordinator";
    public static final String ROLE_TAG = "harbor.role";
    public static final String DEPENDS_ON_TAG = "harbor.depends-on";
    public static final String DRAIN_TIMEOUT_TAG = "harbor.drain-timeout-ms";
    /** The roles the default plan orders: gateways first, writers after custom roles. */
    public static final String GATEWAY = "gateway";
    public static final String WRITER = "writer";

    private static final Duration ASK_COORDINATOR = Duration.ofSeconds(5);

    private OrderedExit() {
    }

    /**
     * Registers the calling service for an ordered exit. Call it from {@link dev.harbor.service.Service#init}.
     *
     * @param role {@link #GATEWAY}, {@link #WRITER} or a custom role
     * @param drainTimeout how long its drain may take
     * @param dependsOn roles whose services this one needs while it drains: it stops before them
     * @throws IllegalArgumentException for a malformed role or timeout
     * @throws IllegalStateException if the service has registered already
     * @throws CallException if a running coordinator refuses the registration (one it cannot reach
 *     reads the registration from the node's service list later)
     */
    public static void register(ServiceContext ctx, String role, Duration drainTimeout, String... dependsOn) {
        if (!isValidRole(role)) {
            throw new IllegalArgumentException("'" + role + "' is not a role: use lower-case letters, digits, '-' or '_'");
        }
        for (String d : dependsOn) {
            if (!isValidRole(d)) {
                throw new IllegalArgumentException("'" + d + "' is not a role: use lower-case letters, digits, '-' or '_'");
            }
        }
        if (drainTimeout.isNegative() || drainTimeout.isZero() || drainTimeout.toMillis() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("the drain timeout must be positive and under 24 days, got " + drainTimeout);
        }
        String already = ctx.tags().get(ROLE_TAG);
        if (already != null) {
            throw new IllegalStateException("service " + ctx.self() + " is already registered as role " + already);
        }
        ctx.tag(DRAIN_TIMEOUT_TAG, Long.toString(drainTimeout.toMillis()));
        if (dependsOn.length > 0) {
            ctx.tag(DEPENDS_ON_TAG, String.join(",", dependsOn));
        }
        ctx.tag(ROLE_TAG, role);
        if (ctx.node().whereis(COORDINATOR).isPresent()) {
            try {
                ctx.call(COORDINATOR, RegisterService.newBuilder().setRole(role).addAllDependsOn(Arrays.asList(dependsOn))
                        .setDrainTimeoutMs((int) drainTimeout.toMillis()).build(), ASK_COORDINATOR);
            } catch (CallException e) {
                if (e.failure() == CallException.Failure.HANDLER_FAILED) {
                    throw e; // the coordinator refused this registration: the caller must hear why
                }
                // Not reachable just now: the tags stand, and the coordinator reads them from this
                // node's service list.
                LoggerFactory.getLogger(OrderedExit.class).info("service {} registered as {}; the coordinator was not"
                        + " reachable ({}), it will read the registration from node {}'s list", ctx.self(), role,
                        e.getMessage(), ctx.self().node());
            }
        }
    }

    /** Whether {@code role} is a usable role name: lower-case letters, digits, '-' and '_', 1 to 64 characters. */
    public static boolean isValidRole(String role) {
        return role != null && role.matches("[a-z][a-z0-9_-]{0,63}");
    }

    /** The roles a service's tags say it depends on. */
    public static List<String> dependsOn(Map<String, String> tags) {
        String d = tags.get(DEPENDS_ON_TAG);
        return d == null || d.isEmpty() ? List.of() : List.of(d.split(","));
    }
}
