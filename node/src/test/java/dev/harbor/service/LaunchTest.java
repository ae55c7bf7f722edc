package dev.harbor.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class LaunchTest extends NodeFixture {

    @Test
    void launchReturnsOnlyAfterInitHasFinished() {
        AtomicBoolean initDone = new AtomicBoolean();
        java.util.concurrent.CompletableFuture<Void> initMayEnd = new java.util.concurrent.CompletableFuture<>();
        java.util.concurrent.CompletableFuture<Handle> launched = node.launchAsync(() -> new Service() {
            @Override
            public void init(ServiceContext ctx) {
                initMayEnd.join(); // init takes as long as the test wants
                initDone.set(true);
            }

            @Override
            public Object receive(ServiceContext ctx, Message m) {
                return "ready";
            }
        });
        org.awaitility.Awaitility.await().during(java.time.Duration.ofMillis(200)).atMost(WAIT)
                .until(() -> !launched.isDone());
        assertThat(node.services()).as("a service in init is not listed").hasSize(1);
        initMayEnd.complete(null);
        Handle h = get(launched);
        assertThat(initDone).isTrue();
        assertThat(node.isAlive(h)).isTrue();
        assertThat(call(h, "x")).isEqualTo("ready");
    }

    @Test
    void failedInitFailsTheLaunchAndTheServiceNeverAppears() {
        IllegalStateException boom = new IllegalStateException("no database");
        List<Handle> seenDuringInit = new ArrayList<>();
        assertThatThrownBy(() -> node.launch(() -> new Service() {
            @Override
            public void init(ServiceContext ctx) {
                seenDuringInit.add(ctx.self());
                ctx.register("db");
                throw boom;
            }

            @Override
            public Object receive(ServiceContext ctx, Message m) {
                return null;
            }
        })).isInstanceOf(LaunchException.class)
                .hasMessageContaining("failed its init")
                .hasMessageContaining("no database")
                .hasCause(boom);

        Handle failed = seenDuringInit.get(0);
        assertThat(node.services()).extracting(ServiceInfo::handle).containsExactly(node.monitor());
        assertThat(node.isAlive(failed)).isFalse();
        assertThat(node.whereis("db")).as("names taken in init are released").isEmpty();
        ExitEvent event = get(node.watch(failed));
        assertThat(event.reason()).isEqualTo(ExitReason.INIT_FAILED);
        assertThat(event.names()).containsExactly("db");
        assertThat(event.detail()).contains("no database");
        CallException gone = (CallException) failure(node.call(failed, "x", WAIT));
        assertThat(gone.failure()).isEqualTo(CallException.Failure.GONE);
        assertThat(gone.exitReason()).isEqualTo(ExitReason.INIT_FAILED);
    }

    @Test
    void aFactoryThatThrowsFailsTheLaunch() {
        assertThatThrownBy(() -> node.launch(() -> {
            throw new IllegalArgumentException("bad config");
        })).isInstanceOf(LaunchException.class).hasRootCauseMessage("bad config");
        assertThat(node.services()).hasSize(1);
    }

    @Test
    void messagesThatArriveDuringInitWaitUntilInitEnds() {
        Handle echo = echo();
        List<Object> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
        Handle h = node.launch(() -> new Service() {
            @Override
            public void init(ServiceContext ctx) {
                ctx.send(ctx.self(), "sent to itself during init");
                // While init waits here, the message above reaches the mailbox; it must wait for init.
                seen.add("init got " + ctx.call(echo, "ping"));
            }

            @Override
            public Object receive(ServiceContext ctx, Message m) {
                seen.add(m.payload());
                return null;
            }
        });
        call(h, "after launch");
        assertThat(seen).containsExactly("init got ping", "sent to itself during init", "after launch");
    }

    @Test
    void launchByClassPassesTheArguments() {
        Handle h = node.launch(Greeter.class, "hello", 3);
        assertThat(call(h, "bob")).isEqualTo("hello bob x3");
        assertThatThrownBy(() -> node.launch(Greeter.class, 42))
                .isInstanceOf(LaunchException.class)
                .hasMessageContaining("no public constructor that takes 1 argument");
    }

    public static final class Greeter implements Service {
        private final String greeting;
        private final int times;

        public Greeter(String greeting, int times) {
            this.greeting = greeting;
            this.times = times;
        }

        @Override
        public Object receive(ServiceContext ctx, Message m) {
            return greeting + " " + m.payload() + " x" + times;
        }
    }

    @Test
    void handlesAreNeverReused() {
        Set<Handle> seen = new HashSet<>();
        Handle previous = null;
        for (int i = 0; i < 200; i++) {
            Handle h = echo();
            assertThat(seen.add(h)).as("handle %s given twice", h).isTrue();
            if (previous != null) {
                assertThat(h.id()).isGreaterThan(previous.id());
            }
            previous = h;
            node.kill(h);
        }
        Handle dead = previous;
        Handle fresh = echo();
        assertThat(fresh).isNotEqualTo(dead);
        CallException e = (CallException) failure(node.call(dead, "x", WAIT));
        assertThat(e).hasMessage("service " + dead + " is gone (KILLED)");
    }

    @Test
    void aRestartedNodeNeverHandsOutAnIdOfItsPreviousLife() {
        Instant t0 = Instant.parse("2026-06-01T00:00:00Z");
        Node first = Node.builder().id(7).clock(Clock.fixed(t0, ZoneOffset.UTC)).build();
        Handle last = null;
        for (int i = 0; i < 1000; i++) {
            last = first.launch(() -> (ctx, m) -> null);
        }
        first.stop();
        // The next life starts one millisecond later: its ids start above all 1001 of the first life.
        Node second = Node.builder().id(7).clock(Clock.fixed(t0.plusMillis(1), ZoneOffset.UTC)).build();
        try {
            Handle firstOfNewLife = second.launch(() -> (ctx, m) -> null);
            assertThat(firstOfNewLife.id()).isGreaterThan(last.id());
            CallException e = (CallException) failure(second.call(last, "x", WAIT));
            assertThat(e.failure()).isEqualTo(CallException.Failure.GONE);
        } finally {
            second.stop();
        }
    }

    @Test
    void aHandleReadsBackFromItsPrintedForm() {
        Handle h = echo();
        assertThat(Handle.parse(h.toString())).isEqualTo(h);
        assertThat(Handle.of(1, 0x42).toString()).isEqualTo(":00010000000000000042");
        assertThatThrownBy(() -> Handle.parse("0001")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("is not a handle");
        assertThatThrownBy(() -> Handle.parse(":0001zz00000000000042")).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> Handle.of(0, 1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("node id 0 is out of range");
        assertThatThrownBy(() -> Handle.of(Handle.MAX_NODE, 0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("local id 0 is out of range");
        assertThat(Handle.isValid(1, 1)).isTrue();
        assertThat(Handle.isValid(Handle.MAX_NODE, Long.MAX_VALUE)).isTrue();
        assertThat(Handle.isValid(0, 1)).isFalse();
        assertThat(Handle.isValid(Handle.MAX_NODE + 1, 1)).isFalse();
        assertThat(Handle.isValid(1, 0)).isFalse();
        assertThat(Handle.isValid(-1, -1)).isFalse();
    }

    @Test
    void aStoppingNodeLaunchesNothing() {
        node.stop();
        assertThatThrownBy(this::echo).isInstanceOf(LaunchException.class).hasMessageContaining("node 1 is stopping");
    }
}
