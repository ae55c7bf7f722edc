package dev.harbor.service;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@link Service#onEnd}: once for each service, however it ends, on the thread that ended it, before its exit event. */
@Timeout(60)
class EndHookTest extends NodeFixture {

    /** What one run of the hook saw. */
    record End(ExitReason reason, Thread thread, boolean eventPublished) {
    }

    /** Records each run of its hook; "bye" makes it exit. */
    final class Hooked implements Service {
        final List<End> ends = new CopyOnWriteArrayList<>();
        volatile Handle self;

        @Override
        public void init(ServiceContext ctx) {
            self = ctx.self();
        }

        @Override
        public Object receive(ServiceContext ctx, Message m) {
            if (m.payload().equals("bye")) {
                ctx.exit();
                return "bye";
            }
            return "here";
        }

        @Override
        public void onEnd(ServiceContext ctx, ExitReason reason) {
            ends.add(new End(reason, Thread.currentThread(), node.exits().find(ctx.self()).isPresent()));
        }
    }

    private End onlyEnd(Hooked s) {
        assertThat(s.ends).hasSize(1);
        return s.ends.getFirst();
    }

    @Test
    void anExitRunsTheHookOnceOnTheServicesOwnThreadBeforeItsExitEvent() {
        Hooked s = new Hooked();
        Handle h = node.launch(() -> s);
        assertThat(call(h, "bye")).isEqualTo("bye");
        ExitEvent event = get(node.watch(h));
        assertThat(event.reason()).isEqualTo(ExitReason.EXIT);
        End end = onlyEnd(s); // the event came after the hook
        assertThat(end.reason()).isEqualTo(ExitReason.EXIT);
        assertThat(end.thread().isVirtual()).as("run on the service's own thread").isTrue();
        assertThat(end.eventPublished()).isFalse();
        node.stop();
        assertThat(s.ends).hasSize(1);
    }

    @Test
    void aKillRunsTheHookOnceOnTheKillersThreadBeforeKillReturns() {
        Hooked s = new Hooked();
        Handle h = node.launch(() -> s);
        assertThat(node.kill(h)).isTrue();
        End end = onlyEnd(s);
        assertThat(end.reason()).isEqualTo(ExitReason.KILLED);
        assertThat(end.thread()).isSameAs(Thread.currentThread());
        assertThat(end.eventPublished()).isFalse();
        assertThat(node.kill(h)).isFalse();
        node.stop();
        assertThat(s.ends).hasSize(1);
    }

    @Test
    void aNodeStopRunsEachServicesHookOnceOnTheStoppingThread() {
        Hooked a = new Hooked();
        Hooked b = new Hooked();
        node.launch(() -> a);
        node.launch(() -> b);
        node.stop();
        for (Hooked s : List.of(a, b)) {
            End end = onlyEnd(s);
            assertThat(end.reason()).isEqualTo(ExitReason.NODE_STOPPED);
            assertThat(end.thread()).isSameAs(Thread.currentThread());
        }
        node.stop();
        assertThat(a.ends).hasSize(1);
    }

    @Test
    void anAbortAndANewLifeRunTheHookOnce() {
        Hooked aborted = new Hooked();
        node.launch(() -> aborted);
        node.abort();
        assertThat(onlyEnd(aborted).reason()).isEqualTo(ExitReason.ABORTED);
        Hooked old = new Hooked();
        node.launch(() -> old);
        node.newLife(ExitReason.NODE_LOST, "declared lost in a test");
        assertThat(onlyEnd(old).reason()).isEqualTo(ExitReason.NODE_LOST);
        node.stop();
        assertThat(aborted.ends).hasSize(1);
        assertThat(old.ends).hasSize(1);
    }

    @Test
    void aFailedInitRunsTheHookOnceWithInitFailed() {
        List<String> cleaned = new CopyOnWriteArrayList<>();
        CompletableFuture<Handle> launch = node.launchAsync(() -> new Service() {
            private String opened; // what init got before it failed

            @Override
            public void init(ServiceContext ctx) {
                opened = "port";
                throw new IllegalStateException("no database");
            }

            @Override
            public Object receive(ServiceContext ctx, Message m) {
                return null;
            }

            @Override
            public void onEnd(ServiceContext ctx, ExitReason reason) {
                cleaned.add(reason + " " + opened);
            }
        });
        assertThat(failure(launch)).isInstanceOf(LaunchException.class);
        assertThat(cleaned).containsExactly("INIT_FAILED port");
    }

    @Test
    void aFactoryThatFailsMakesNoServiceAndNoHook() {
        assertThat(failure(node.launchAsync(() -> {
            throw new IllegalStateException("cannot make it");
        }))).isInstanceOf(LaunchException.class);
    }

    @Test
    void aServiceKilledDuringItsInitRunsTheHookOnceInitReturnsOnTheInitThread() throws Exception {
        CompletableFuture<Handle> initStarted = new CompletableFuture<>();
        CountDownLatch gate = new CountDownLatch(1);
        List<String> cleaned = new CopyOnWriteArrayList<>();
        CompletableFuture<Handle> launch = node.launchAsync(() -> new Service() {
            private volatile boolean initDone;

            @Override
            public void init(ServiceContext ctx) throws InterruptedException {
                initStarted.complete(ctx.self());
                gate.await();
                initDone = true;
            }

            @Override
            public Object receive(ServiceContext ctx, Message m) {
                return null;
            }

            @Override
            public void onEnd(ServiceContext ctx, ExitReason reason) {
                cleaned.add(reason + (initDone ? " after init" : " during init") + (Thread.currentThread().isVirtual() ? " on the init thread" : ""));
            }
        });
        Handle h = get(initStarted);
        assertThat(node.kill(h)).isTrue();
        assertThat(cleaned).as("never while init runs").isEmpty();
        gate.countDown();
        assertThat(failure(launch)).isInstanceOf(LaunchException.class);
        assertThat(cleaned).containsExactly("KILLED after init on the init thread");
    }

    @Test
    void manyKillersAndAStopRunTheHookOnce() throws Exception {
        List<Hooked> all = new ArrayList<>();
        List<Handle> handles = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            Hooked s = new Hooked();
            all.add(s);
            handles.add(node.launch(() -> s));
        }
        CountDownLatch go = new CountDownLatch(1);
        List<Thread> killers = new ArrayList<>();
        for (int k = 0; k < 4; k++) {
            Thread t = Thread.ofPlatform().start(() -> {
                try {
                    go.await();
                } catch (InterruptedException e) {
                    return;
                }
                handles.forEach(node::kill);
            });
            killers.add(t);
        }
        go.countDown();
        node.stop();
        for (Thread t : killers) {
            t.join();
        }
        for (Hooked s : all) {
            assertThat(s.ends).hasSize(1);
        }
    }

    @Test
    void aHookThatThrowsDoesNotStopTheExitEvent() {
        Handle h = launchWithHook((ctx, reason) -> {
            throw new IllegalStateException("clean-up failed");
        });
        assertThat(node.kill(h)).isTrue();
        assertThat(get(node.watch(h)).reason()).isEqualTo(ExitReason.KILLED);
    }

    @Test
    void theHooksContextCanStillSend() {
        CompletableFuture<Object> told = new CompletableFuture<>();
        Handle listener = node.launch(() -> (ctx, m) -> told.complete(m.payload() + " from " + m.from()));
        Handle h = launchWithHook((ctx, reason) -> ctx.send(listener, "ended " + reason));
        node.kill(h);
        assertThat(get(told)).isEqualTo("ended KILLED from " + h);
    }

    /** Launches a service that handles nothing and whose exit hook is {@code hook}. */
    private Handle launchWithHook(java.util.function.BiConsumer<ServiceContext, ExitReason> hook) {
        return node.launch(() -> new Service() {
            @Override
            public Object receive(ServiceContext ctx, Message m) {
                return null;
            }

            @Override
            public void onEnd(ServiceContext ctx, ExitReason reason) {
                hook.accept(ctx, reason);
            }
        });
    }
}
