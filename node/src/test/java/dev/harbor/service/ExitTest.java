package dev.harbor.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** However a service ends, everyone it owes is answered, its names go, and exactly one exit event is published. */
@Timeout(60)
class ExitTest extends NodeFixture {

    @Test
    void exitEndsTheServiceAfterTheCurrentHandlerRepliesAndLaterCallsFailAtOnce() {
        Handle h = node.launch(() -> new Service() {
            @Override
            public void init(ServiceContext ctx) {
                ctx.register("leaving");
            }

            @Override
            public Object receive(ServiceContext ctx, Message m) {
                if (m.payload().equals("bye")) {
                    ctx.exit();
                    return "goodbye";
                }
                return "still here";
            }
        });
        assertThat(call(h, "hi")).isEqualTo("still here");
        assertThat(call(h, "bye")).isEqualTo("goodbye");
        ExitEvent event = get(node.watch(h));
        assertThat(event.reason()).isEqualTo(ExitReason.EXIT);
        assertThat(event.names()).containsExactly("leaving");
        assertThat(event.node()).isEqualTo(1);
        assertThat(node.whereis("leaving")).isEmpty();
        CallException e = (CallException) failure(node.call(h, "hi", WAIT));
        assertThat(e).hasMessage("service " + h + " is gone (EXIT)");
        assertThat(e.exitReason()).isEqualTo(ExitReason.EXIT);
    }

    @Test
    void killAnswersQueuedRunningWaitingAndDeferredCallersAtOnceEvenIfAHandlerIsStuck() throws Exception {
        CompletableFuture<Void> silentGotCall = new CompletableFuture<>();
        Handle silent = node.launch(() -> (ctx, m) -> {
            m.defer();
            silentGotCall.complete(null);
            return null;
        });
        CountDownLatch blocked = new CountDownLatch(1);
        CompletableFuture<Void> gate = new CompletableFuture<>();
        List<String> unwound = new CopyOnWriteArrayList<>();
        Handle victim = node.launch(() -> new Service() {
            @Override
            public void init(ServiceContext ctx) {
                ctx.register("victim");
            }

            @Override
            public Object receive(ServiceContext ctx, Message m) {
                switch ((String) m.payload()) {
                    case "defer" -> m.defer();
                    case "suspend" -> {
                        try {
                            ctx.call(silent, "never answered");
                        } catch (ServiceExitedException e) {
                            unwound.add(e.getMessage());
                            throw e;
                        }
                    }
                    case "block" -> {
                        blocked.countDown();
                        gate.join(); // stuck in code the runtime cannot interrupt
                    }
                    default -> {
                        return "queued one answered normally?";
                    }
                }
                return "handler finished";
            }
        });
        CompletableFuture<Object> deferred = node.call(victim, "defer", null);
        CompletableFuture<Object> suspended = node.call(victim, "suspend", null);
        get(silentGotCall);
        CompletableFuture<Object> running = node.call(victim, "block", null);
        assertThat(blocked.await(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
        CompletableFuture<Object> queued1 = node.call(victim, "q1", null);
        CompletableFuture<Object> queued2 = node.call(victim, "q2", null);

        assertThat(node.kill(victim)).isTrue();

        // Everything is answered before kill returned; the stuck handler is still stuck.
        for (CompletableFuture<Object> f : List.of(deferred, suspended, running, queued1, queued2)) {
            assertThat(f).isDone();
            CallException e = (CallException) failure(f);
            assertThat(e.failure()).isEqualTo(CallException.Failure.GONE);
            assertThat(e).hasMessage("service " + victim + " is gone (KILLED)");
        }
        assertThat(node.whereis("victim")).isEmpty();
        assertThat(node.exits().find(victim)).get().extracting(ExitEvent::reason).isEqualTo(ExitReason.KILLED);
        assertThat(node.kill(victim)).as("a second kill finds nothing to kill").isFalse();
        CallException later = (CallException) failure(node.call(victim, "again", null));
        assertThat(later.exitReason()).isEqualTo(ExitReason.KILLED);

        gate.complete(null); // the stuck handler returns; then the waiting one is woken to unwind
        await().atMost(WAIT).until(() -> unwound.size() == 1);
        assertThat(unwound.get(0)).isEqualTo("service " + victim + " has exited (KILLED)");
        await().atMost(WAIT).until(() -> monitor.of(victim).size() == 1);
        assertThat(monitor.of(victim)).hasSize(1);
    }

    @Test
    void exactlyOneExitEventPerServiceWhenManyEndItAtOnce() throws Exception {
        int services = 200;
        List<Handle> handles = new ArrayList<>();
        for (int i = 0; i < services; i++) {
            handles.add(node.launch(() -> (ctx, m) -> {
                ctx.exit();
                return null;
            }));
        }
        CountDownLatch start = new CountDownLatch(1);
        List<Thread> racers = new ArrayList<>();
        for (int t = 0; t < 3; t++) {
            int kind = t;
            racers.add(Thread.ofPlatform().start(() -> {
                try {
                    start.await();
                } catch (InterruptedException e) {
                    return;
                }
                for (Handle h : handles) {
                    if (kind == 0) {
                        node.kill(h);
                    } else if (kind == 1) {
                        node.send(h, "exit please");
                    } else {
                        node.abort();
                    }
                }
            }));
        }
        start.countDown();
        for (Thread t : racers) {
            t.join(WAIT.toMillis());
        }
        await().atMost(WAIT).until(() -> handles.stream().allMatch(h -> monitor.of(h).size() == 1));
        for (Handle h : handles) {
            assertThat(monitor.of(h)).hasSize(1);
            assertThat(monitor.of(h).get(0).reason()).isIn(ExitReason.KILLED, ExitReason.EXIT, ExitReason.ABORTED);
        }
    }

    @Test
    void exitEventsAreNumberedWithoutGapsAndReachTheMonitorInOrder() {
        List<Handle> handles = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            handles.add(echo());
        }
        for (Handle h : handles) {
            node.kill(h);
        }
        await().atMost(WAIT).until(() -> monitor.events.size() == 50);
        for (int i = 0; i < 50; i++) {
            ExitEvent e = monitor.events.get(i);
            assertThat(e.seq()).isEqualTo(i + 1);
            assertThat(e.handle()).isEqualTo(handles.get(i));
        }
        assertThat(node.exits().lastSeq()).isEqualTo(50);
        assertThat(node.exits().after(45)).extracting(ExitEvent::seq).containsExactly(46L, 47L, 48L, 49L, 50L);
    }

    @Test
    void aNameIsFreeAgainOnceItsHolderHasExited() {
        ServiceFactory named = () -> new Service() {
            @Override
            public void init(ServiceContext ctx) {
                ctx.register("db");
            }

            @Override
            public Object receive(ServiceContext ctx, Message m) {
                return ctx.self();
            }
        };
        Handle first = node.launch(named);
        node.kill(first);
        Handle second = node.launch(named);
        assertThat(node.whereis("db")).contains(second);
        assertThat(get(node.call("db", "who", WAIT))).isEqualTo(second);
    }

    @Test
    void stoppingTheNodeEndsEveryServiceAndTheMonitorSeesEveryExit() {
        List<Handle> handles = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            handles.add(echo());
        }
        Handle parker = node.launch(() -> (ctx, m) -> {
            m.defer();
            return null;
        });
        CompletableFuture<Object> owed = node.call(parker, "x", null);
        Handle waiter = node.launch(() -> (ctx, m) -> ctx.call(parker, "y"));
        CompletableFuture<Object> waiting = node.call(waiter, "go", null);
        await().atMost(WAIT).until(() -> node.services().stream()
                .anyMatch(s -> s.handle().equals(parker) && s.messagesHandled() == 2));

        node.stop();

        assertThat(((CallException) failure(owed)).exitReason()).isEqualTo(ExitReason.NODE_STOPPED);
        assertThat(((CallException) failure(waiting)).exitReason()).isEqualTo(ExitReason.NODE_STOPPED);
        List<Handle> all = new ArrayList<>(handles);
        all.add(parker);
        all.add(waiter);
        for (Handle h : all) {
            assertThat(monitor.of(h)).hasSize(1);
            assertThat(monitor.of(h).get(0).reason()).isEqualTo(ExitReason.NODE_STOPPED);
        }
        // Newest first, and the monitor itself last (it cannot see its own exit).
        assertThat(monitor.events).hasSize(all.size());
        assertThat(monitor.events.get(0).handle()).isEqualTo(waiter);
        assertThat(node.exits().find(node.monitor())).get().extracting(ExitEvent::seq).isEqualTo((long) all.size() + 1);
        assertThat(node.activeThreads()).isZero();
        assertThat(Thread.getAllStackTraces().keySet()).noneMatch(t -> t.getName().startsWith("harbor-node-1"));
    }

    @Test
    void abortEndsEveryServiceButTheMonitorAndTheNodeGoesOn() {
        Handle a = echo();
        Handle b = echo();
        node.abort();
        await().atMost(WAIT).until(() -> monitor.events.size() == 2);
        assertThat(monitor.events).extracting(ExitEvent::reason).containsOnly(ExitReason.ABORTED);
        assertThat(monitor.events).extracting(ExitEvent::handle).containsExactlyInAnyOrder(a, b);
        assertThat(node.services()).extracting(ServiceInfo::handle).containsExactly(node.monitor());
        Handle c = echo();
        assertThat(call(c, "after abort")).isEqualTo("after abort");
    }

    @Test
    void theMonitorCannotBeKilled() {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> node.kill(node.monitor()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("is the monitor of node 1");
    }
}
