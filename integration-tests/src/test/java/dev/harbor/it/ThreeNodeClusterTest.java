package dev.harbor.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.harbor.service.Handle;
import dev.harbor.service.Node;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Three node processes on loopback and a driver node: calls across all three, global names, ordering. */
@Timeout(180)
class ThreeNodeClusterTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private static ProcessCluster cluster;
    private static Node driver;

    @BeforeAll
    static void start() {
        cluster = new ProcessCluster("three", 1, 2, 3);
        for (int id = 1; id <= 3; id++) {
            cluster.start(id, "dev.harbor.it.Relay(relay-" + id + "),dev.harbor.it.Sink(sink-" + id + ")");
        }
        driver = cluster.startDriver();
        await().atMost(WAIT).until(() -> cluster.driverHarbor().connected().containsAll(List.of(1, 2, 3))
                && driver.whereis("relay-1").isPresent() && driver.whereis("relay-2").isPresent()
                && driver.whereis("relay-3").isPresent() && driver.whereis("sink-2").isPresent());
        // The nodes link to each other on their own; once a chain through every pair works, they have.
        Handle first = driver.whereis("relay-1").orElseThrow();
        await().atMost(WAIT).ignoreExceptions().until(() -> "relay-1>relay-2>relay-3>relay-1>relay-3>relay-2>relay-1".equals(
                driver.call(first, "relay-2,relay-3,relay-1,relay-3,relay-2,relay-1", WAIT).get(10, TimeUnit.SECONDS)));
    }

    @AfterAll
    static void stop() {
        cluster.close();
    }

    private static Object call(Handle to, Object payload) throws Exception {
        return driver.call(to, payload, WAIT).get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    }

    @Test
    void aCallChainRunsThroughAllThreeNodesByGlobalName() throws Exception {
        Handle first = driver.whereis("relay-1").orElseThrow();
        assertThat(first.node()).isEqualTo(1);
        assertThat(call(first, "relay-2,relay-3,relay-1,relay-3")).isEqualTo("relay-1>relay-2>relay-3>relay-1>relay-3");
        // From a service of the driver, by name, like any service would.
        Handle asker = driver.launch(() -> (ctx, m) -> ctx.call("relay-3", "relay-2", WAIT));
        assertThat(call(asker, "go")).isEqualTo("relay-3>relay-2");
    }

    @Test
    void messagesFromEachSenderArriveInTheOrderSent() throws Exception {
        int perSender = 5_000;
        List<Handle> senders = List.of(
                driver.launch(() -> (ctx, m) -> sendNumbers(ctx, "sink-2", perSender)),
                driver.launch(() -> (ctx, m) -> sendNumbers(ctx, "sink-2", perSender)));
        for (Handle s : senders) {
            driver.send(s, "go");
        }
        Handle sink = driver.whereis("sink-2").orElseThrow();
        await().atMost(WAIT).until(() -> ((String) call(sink, "report")).startsWith("received=" + 2 * perSender + " "));
        assertThat(call(sink, "report")).isEqualTo("received=" + 2 * perSender + " outOfOrder=0");
    }

    private static Object sendNumbers(dev.harbor.service.ServiceContext ctx, String to, int count) {
        for (int i = 0; i < count; i++) {
            ctx.send(to, Integer.toString(i));
        }
        return null;
    }

    @Test
    void everyNodeListsItsServicesThroughItsAdminApi() {
        for (int id = 1; id <= 3; id++) {
            var list = cluster.admin(id).listServices(dev.harbor.proto.ListServicesRequest.getDefaultInstance());
            assertThat(list.getNode()).isEqualTo(id);
            String relay = "relay-" + id;
            assertThat(list.getServicesList()).anySatisfy(s -> assertThat(s.getNamesList()).containsExactly(relay));
        }
    }
}
