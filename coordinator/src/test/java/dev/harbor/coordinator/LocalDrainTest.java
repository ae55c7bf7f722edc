package dev.harbor.coordinator;

import static org.assertj.core.api.Assertions.assertThat;

import dev.harbor.service.ExitEvent;
import dev.harbor.service.ExitReason;
import dev.harbor.service.Handle;
import dev.harbor.service.Node;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A node told to stop with no coordinator in reach drains itself by the coordinator's rules (the same
 * {@link dev.harbor.plan.Execution}): its registered services in plan order, each confirmed by its
 * exit event and killed at its drain timeout, then the rest of its services; its monitor stays for
 * the node's own stop.
 */
@Timeout(60)
class LocalDrainTest {
    private final Node node = Node.builder().id(7).build();

    @AfterEach
    void stop() {
        node.stop();
    }

    private Handle launch(String name, String role, Duration timeout, boolean stubborn, List<String> drained, String... dependsOn) {
        return node.launch(() -> new Drainable(name, role, timeout, stubborn, drained, dependsOn));
    }

    private ExitEvent exitOf(Handle h) throws Exception {
        return node.watch(h).get(5, TimeUnit.SECONDS);
    }

    @Test
    void aNodeAloneDrainsInRoleOrderThenEndsItsOtherServicesAndKeepsItsMonitor() throws Exception {
        List<String> drained = new CopyOnWriteArrayList<>();
        // Launched out of order on purpose: the plan decides.
        Handle writer = launch("writer-7", "writer", Duration.ofSeconds(2), false, drained);
        Handle cache = launch("cache-7", "cache", Duration.ofSeconds(2), false, drained);
        Handle lobby = launch("lobby-7", "lobby", Duration.ofSeconds(2), false, drained, "cache");
        Handle gateway = launch("gw-7", "gateway", Duration.ofSeconds(2), false, drained);
        Handle worker = node.launch(() -> (ctx, m) -> m.payload());

        LocalDrain.drain(node, Duration.ofSeconds(30));

        assertThat(drained).containsExactly("gw-7", "lobby-7", "cache-7", "writer-7");
        for (Handle h : List.of(writer, cache, lobby, gateway)) {
            assertThat(exitOf(h).reason()).as("%s drained itself", h).isEqualTo(ExitReason.EXIT);
        }
        assertThat(exitOf(worker).reason()).as("the stateless service is ended by the drain, before the node stops")
                .isEqualTo(ExitReason.KILLED);
        assertThat(node.isAlive(node.monitor())).as("the monitor records the node's last exits").isTrue();
    }

    @Test
    void aServiceThatIgnoresItsDrainIsKilledAtItsTimeoutAndTheDrainGoesOn() throws Exception {
        List<String> drained = new CopyOnWriteArrayList<>();
        Handle stubborn = launch("gw-7", "gateway", Duration.ofMillis(300), true, drained);
        Handle writer = launch("writer-7", "writer", Duration.ofSeconds(2), false, drained);

        long start = System.nanoTime();
        LocalDrain.drain(node, Duration.ofSeconds(30));
        long tookMs = (System.nanoTime() - start) / 1_000_000;

        assertThat(exitOf(stubborn).reason()).isEqualTo(ExitReason.KILLED);
        assertThat(drained).containsExactly("writer-7");
        assertThat(exitOf(writer).reason()).isEqualTo(ExitReason.EXIT);
        assertThat(tookMs).as("killed at its timeout, not before").isGreaterThanOrEqualTo(300L);
    }

    @Test
    void theDrainReturnsWhenItsBudgetRunsOut() throws Exception {
        List<String> drained = new CopyOnWriteArrayList<>();
        launch("gw-7", "gateway", Duration.ofSeconds(20), true, drained);

        long start = System.nanoTime();
        LocalDrain.drain(node, Duration.ofMillis(500));
        long tookMs = (System.nanoTime() - start) / 1_000_000;

        assertThat(tookMs).as("bounded by the budget, not the 20 s drain timeout").isBetween(450L, 15_000L);
        assertThat(drained).isEmpty();
    }
}
