package dev.harbor.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * When a service's cell flushes its {@link Outbox} (the contract in its javadoc), seen through a
 * transport that holds every send until it is flushed and records what it is handed, beside what
 * the node's own services and exit log see.
 */
@Timeout(30)
class OutboxContractTest extends NodeFixture {
    /** A service of another node. */
    private static final Handle ELSEWHERE = Handle.of(9, 42);

    private final List<String> events = new CopyOnWriteArrayList<>();
    private final HoldingRemote remote = new HoldingRemote();
    private final Consumer<ExitEvent> exits = e -> events.add("exit " + e.handle());

    /** Holds each send in its outbox until flushed; records each flush as "flushed [payloads]". */
    private final class HoldingRemote implements Remote {
        @Override
        public void route(Handle to, Message message) {
            events.add("routed " + message.payload());
        }

        @Override
        public Outbox outbox() {
            return new Outbox() {
                private final List<Object> held = new ArrayList<>();

                @Override
                public synchronized void send(Handle to, Message message) {
                    held.add(message.payload());
                }

                @Override
                public synchronized void flush() {
                    if (!held.isEmpty()) {
                        events.add("flushed " + held);
                        held.clear();
                    }
                }

                @Override
                public boolean open() {
                    return true;
                }
            };
        }

        @Override
        public Optional<Handle> whereis(String globalName) {
            return Optional.empty();
        }

        @Override
        public boolean isAlive(Handle handle) {
            return false;
        }

        @Override
        public void serviceLive(Handle handle) {
        }

        @Override
        public void globalNameBound(String name, Handle handle) {
        }
    }

    @BeforeEach
    void attach() {
        InternalNode.attach(node, remote);
        node.exits().subscribe(node.exits().lastSeq(), exits);
    }

    @AfterEach
    void detach() {
        node.exits().unsubscribe(exits);
        InternalNode.transportClosed(node, remote);
    }

    /** A service of this node that records what it gets as "here got <payload>", and answers calls with "ok". */
    private Handle recorder() {
        return node.launch(() -> (ctx, m) -> {
            events.add("here got " + m.payload());
            return "ok";
        });
    }

    @Test
    void sendsMadeByInitAndByAHandlerGoWhenTheyReturn() {
        Handle h = node.launch(() -> new Service() {
            @Override
            public void init(ServiceContext ctx) {
                ctx.send(ELSEWHERE, "i1");
                ctx.send(ELSEWHERE, "i2");
            }

            @Override
            public Object receive(ServiceContext ctx, Message m) {
                ctx.send(ELSEWHERE, m.payload() + "-a");
                ctx.send(ELSEWHERE, m.payload() + "-b");
                return null;
            }
        });
        assertThat(events).containsExactly("flushed [i1, i2]");
        node.send(h, "m");
        await().atMost(WAIT).until(() -> events.size() == 2);
        assertThat(events).containsExactly("flushed [i1, i2]", "flushed [m-a, m-b]");
    }

    @Test
    void aSendOrACallToAServiceOfThisNodeGoesAfterTheSendsHeldBeforeIt() {
        Handle here = recorder();
        Handle h = node.launch(() -> (ctx, m) -> {
            ctx.send(ELSEWHERE, "a");
            ctx.send(here, "b");
            ctx.send(ELSEWHERE, "c");
            return ctx.call(here, "d");
        });
        assertThat(call(h, "go")).isEqualTo("ok");
        await().atMost(WAIT).until(() -> events.size() == 4);
        assertThat(events).containsExactlyInAnyOrder("flushed [a]", "here got b", "flushed [c]", "here got d");
        // The recorder handles b on its own thread, so only each flush's order with the message after it is fixed.
        assertThat(events.indexOf("flushed [a]")).isLessThan(events.indexOf("here got b"));
        assertThat(events.indexOf("flushed [c]")).isLessThan(events.indexOf("here got d"));
    }

    @Test
    void theHeldSendsOfAServiceKilledWhileItsHandlerBlocksGoBeforeItsExitEvent() throws Exception {
        CountDownLatch sent = new CountDownLatch(1);
        CountDownLatch never = new CountDownLatch(1); // the handler's wait, which the kill leaves as it is
        Handle h = node.launch(() -> (ctx, m) -> {
            ctx.send(ELSEWHERE, "a");
            ctx.send(ELSEWHERE, "b");
            sent.countDown();
            never.await(); // a kill does not wake it: the test lets it go at the end
            return null;
        });
        node.send(h, "go");
        assertThat(sent.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
        assertThat(events).as("held while the handler blocks: this transport has no sweeper").isEmpty();

        try {
            assertThat(node.kill(h)).isTrue();
            await().atMost(WAIT).until(() -> events.contains("exit " + h));
            assertThat(events).containsExactly("flushed [a, b]", "exit " + h);
        } finally {
            never.countDown();
        }
    }

    @Test
    void aReplyGivenInsideTheHandlerGoesAfterTheSendsItMadeBefore() throws Exception {
        CountDownLatch proceed = new CountDownLatch(1);
        Handle h = node.launch(() -> (ctx, m) -> {
            ctx.send(ELSEWHERE, "a");
            m.defer().reply("r");
            proceed.await(); // the handler has not returned when the caller has its answer
            return null;
        });
        CompletableFuture<Object> answer = node.call(h, "go", WAIT);
        assertThat(get(answer)).isEqualTo("r");
        assertThat(events).containsExactly("flushed [a]");
        proceed.countDown();
    }

    @Test
    void killingOrWatchingAnotherServiceGoesAfterTheSendsHeldBeforeIt() {
        Handle victim = recorder();
        Handle h = node.launch(() -> (ctx, m) -> {
            ctx.send(ELSEWHERE, "a");
            ctx.kill(victim);
            return null;
        });
        node.send(h, "go");
        await().atMost(WAIT).until(() -> events.contains("exit " + victim));
        assertThat(events).containsExactly("flushed [a]", "exit " + victim);
    }
}
