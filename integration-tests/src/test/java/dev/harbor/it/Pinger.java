package dev.harbor.it;

import dev.harbor.service.Handle;
import dev.harbor.service.Message;
import dev.harbor.service.NodeView;
import dev.harbor.service.ServiceContext;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Steady cross-node traffic for cluster tests whose driver cannot join the cluster (containers on an
 * internal network): every {@code periodMs} it calls each target by its global name with "" (a
 * {@link Relay} answers its name). Each answered call shows as one more message handled by the target
 * in its node's ListServices, so a test sees that the target goes on serving calls from across the
 * cluster. Config form: {@code Pinger(name;targets;periodMs)}, targets joined by '+'. A failed call
 * (a target gone or unreachable) is logged at debug level and the pinger goes on: the test reads the
 * targets' counts, not the pinger's.
 */
public final class Pinger extends GloballyNamed {
    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(Pinger.class);

    /** Sent to itself (locally, never serialised) on each period. */
    private record Tick() {
    }

    private final List<String> targets;
    private final long periodMs;

    public Pinger(String name, String targets, String periodMs) {
        super(name);
        this.targets = List.of(targets.split("\\+"));
        this.periodMs = Long.parseLong(periodMs);
    }

    @Override
    public void init(ServiceContext ctx) {
        super.init(ctx);
        schedule(ctx.node(), ctx.self());
    }

    @Override
    public Object receive(ServiceContext ctx, Message m) {
        if (m.payload() instanceof Tick) {
            for (String t : targets) {
                try {
                    ctx.call(t, "", Duration.ofSeconds(2));
                } catch (RuntimeException e) {
                    // Expected while a target's node is down or drained: the test watches the targets' counts.
                    log.debug("{}: call to {} failed: {}", name, t, e.toString());
                }
            }
            schedule(ctx.node(), ctx.self());
        }
        return null;
    }

    private void schedule(NodeView node, Handle self) {
        CompletableFuture.delayedExecutor(periodMs, TimeUnit.MILLISECONDS).execute(() -> node.send(self, new Tick()));
    }
}
