package dev.harbor.coordinator;

import dev.harbor.proto.Drain;
import dev.harbor.service.Message;
import dev.harbor.service.Service;
import dev.harbor.service.ServiceContext;
import dev.harbor.shutdown.OrderedExit;
import java.time.Duration;
import java.util.List;

/**
 * A registered service for coordinator tests: on {@link Drain} it notes its name in {@code drained}
 * and exits, unless it is stubborn, in which case it ignores the drain.
 */
final class Drainable implements Service {
    private final String name;
    private final String role;
    private final Duration drainTimeout;
    private final boolean stubborn;
    private final List<String> drained;
    private final String[] dependsOn;

    Drainable(String name, String role, Duration drainTimeout, boolean stubborn, List<String> drained, String... dependsOn) {
        this.name = name;
        this.role = role;
        this.drainTimeout = drainTimeout;
        this.stubborn = stubborn;
        this.drained = drained;
        this.dependsOn = dependsOn;
    }

    @Override
    public void init(ServiceContext ctx) {
        ctx.register(name);
        OrderedExit.register(ctx, role, drainTimeout, dependsOn);
    }

    @Override
    public Object receive(ServiceContext ctx, Message m) {
        if (m.payload() instanceof Drain && !stubborn) {
            drained.add(name);
            ctx.exit();
        }
        return null;
    }
}
