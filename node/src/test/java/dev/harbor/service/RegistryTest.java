package dev.harbor.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The node's list of services (the launcher's view) and kill by handle. */
@Timeout(30)
class RegistryTest extends NodeFixture {

    @Test
    void theListShowsEachServiceWithItsNamesMailboxDepthAndMessageCount() throws Exception {
        CountDownLatch entered = new CountDownLatch(1);
        CompletableFuture<Void> gate = new CompletableFuture<>();
        Handle busy = node.launch(() -> new Service() {
            @Override
            public void init(ServiceContext ctx) {
                ctx.register(".busy");
                ctx.register("busy-global");
                ctx.tag("role", "gateway");
                ctx.tag("drain-ms", "500");
                ctx.tag("role", "writer"); // a tag set again takes the new value
            }

            @Override
            public Object receive(ServiceContext ctx, Message m) {
                if (m.payload().equals("block")) {
                    entered.countDown();
                    gate.join();
                }
                return null;
            }
        });
        Handle idle = echo();
        call(idle, "one");
        call(idle, "two");
        node.send(busy, "block");
        assertThat(entered.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
        for (int i = 0; i < 5; i++) {
            node.send(busy, "queued " + i);
        }

        ServiceInfo busyInfo = find(busy);
        assertThat(busyInfo.names()).containsExactly(".busy", "busy-global");
        assertThat(busyInfo.mailboxDepth()).isEqualTo(5);
        assertThat(busyInfo.messagesHandled()).isEqualTo(1);
        assertThat(busyInfo.type()).contains("RegistryTest");
        assertThat(busyInfo.tags()).containsExactlyInAnyOrderEntriesOf(java.util.Map.of("role", "writer", "drain-ms", "500"));
        ServiceInfo idleInfo = find(idle);
        assertThat(idleInfo.mailboxDepth()).isZero();
        assertThat(idleInfo.messagesHandled()).isEqualTo(2);
        assertThat(idleInfo.names()).isEmpty();
        assertThat(idleInfo.tags()).isEmpty();
        assertThat(node.services()).extracting(ServiceInfo::handle).containsExactly(node.monitor(), busy, idle);

        gate.complete(null);
        await().atMost(WAIT).until(() -> find(busy).messagesHandled() == 6 && find(busy).mailboxDepth() == 0);
    }

    @Test
    void killingFromTheListRemovesTheService() {
        Handle h = echo();
        assertThat(node.isAlive(h)).isTrue();
        assertThat(node.kill(h)).isTrue();
        assertThat(node.isAlive(h)).isFalse();
        assertThat(node.services()).extracting(ServiceInfo::handle).doesNotContain(h);
        assertThat(node.exits().find(h)).get().satisfies(e -> assertThat(e.reason()).isEqualTo(ExitReason.KILLED));
        assertThat(node.kill(Handle.of(1, Long.MAX_VALUE))).isFalse();
        assertThat(node.kill(Handle.of(2, 1))).isFalse();
    }

    @Test
    void aServiceCanKillAnother() {
        Handle victim = echo();
        Handle killer = node.launch(() -> (ctx, m) -> ctx.kill((Handle) m.payload()));
        assertThat(call(killer, victim)).isEqualTo(true);
        assertThat(call(killer, victim)).isEqualTo(false);
        assertThat(monitorSaw(victim)).isEqualTo(ExitReason.KILLED);
    }

    @Test
    void aServiceCanLaunchAnotherAndWaitForItsInit() {
        Handle parent = node.launch(() -> (ctx, m) -> {
            Handle child = ctx.launch(() -> new Service() {
                @Override
                public void init(ServiceContext c) {
                    c.register("child");
                }

                @Override
                public Object receive(ServiceContext c, Message msg) {
                    return "child says " + msg.payload();
                }
            });
            return ctx.call(child, "hi");
        });
        assertThat(call(parent, "go")).isEqualTo("child says hi");
        Handle failing = node.launch(() -> (ctx, m) -> {
            try {
                ctx.launch(() -> {
                    throw new IllegalStateException("no child today");
                });
                return "launched?";
            } catch (LaunchException e) {
                return "refused: " + e.getCause().getMessage();
            }
        });
        assertThat(call(failing, "go")).isEqualTo("refused: no child today");
    }

    private ExitReason monitorSaw(Handle h) {
        await().atMost(WAIT).until(() -> monitor.of(h).size() == 1);
        return monitor.of(h).get(0).reason();
    }

    private ServiceInfo find(Handle h) {
        return node.services().stream().filter(s -> s.handle().equals(h)).findFirst().orElseThrow();
    }
}
