package dev.harbor.service;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A handler that waits in {@code call} suspends, the service goes on, and handlers never overlap. */
@Timeout(60)
class SuspensionTest extends NodeFixture {

    /** A service that, asked "ping N", calls its peer with "ping N-1" and answers "pong N" when that returns. */
    static final class PingPong implements Service {
        Handle peer;

        @Override
        public Object receive(ServiceContext ctx, Message m) {
            if (m.payload() instanceof Handle h) {
                peer = h;
                return "paired";
            }
            int n = (Integer) m.payload();
            if (n == 0) {
                return "bottom";
            }
            Object below = ctx.call(peer, n - 1);
            return n + ">" + below;
        }
    }

    @Test
    void aCallsBWhileBCallsAIsNoDeadlock() {
        Handle a = node.launch(PingPong::new);
        Handle b = node.launch(PingPong::new);
        call(a, b);
        call(b, a);
        // a handles 4 and calls b with 3; b calls a with 2 while a's first handler still waits; and so on.
        assertThat(call(a, 4)).isEqualTo("4>3>2>1>bottom");
    }

    @Test
    void whileOneHandlerWaitsTheServiceHandlesOtherMessages() {
        CompletableFuture<DeferredReply> slowCallee = new CompletableFuture<>();
        Handle slow = node.launch(() -> (ctx, m) -> slowCallee.complete(m.defer()));
        List<String> log = new ArrayList<>();
        Handle svc = node.launch(() -> (ctx, m) -> {
            String what = (String) m.payload();
            log.add("start " + what);
            if (what.equals("wait")) {
                Object r = ctx.call(slow, "work");
                log.add("resumed with " + r);
            }
            log.add("end " + what);
            return List.copyOf(log);
        });
        CompletableFuture<Object> waiting = node.call(svc, "wait", WAIT);
        DeferredReply release = get(slowCallee);
        // The service is not blocked by its waiting handler: two more calls are handled meanwhile.
        assertThat(call(svc, "quick1")).isEqualTo(List.of("start wait", "start quick1", "end quick1"));
        assertThat(call(svc, "quick2")).asList().endsWith("start quick2", "end quick2");
        release.reply("done");
        assertThat(get(waiting)).isEqualTo(List.of("start wait", "start quick1", "end quick1", "start quick2",
                "end quick2", "resumed with done", "end wait"));
    }

    @Test
    void handlersOfOneServiceNeverRunAtTheSameTime() {
        AtomicInteger inside = new AtomicInteger();
        AtomicInteger overlaps = new AtomicInteger();
        Handle echo = echo();
        Handle svc = node.launch(() -> new Service() {
            long unguarded; // plain field: lost updates would show if handlers overlapped

            @Override
            public Object receive(ServiceContext ctx, Message m) {
                enter();
                for (int i = 0; i < 100; i++) {
                    unguarded++;
                }
                if (m.payload().equals("call")) {
                    leave();
                    ctx.call(echo, "x"); // suspends; others may run now, not after it resumes
                    enter();
                }
                unguarded++;
                long seen = unguarded;
                leave();
                return seen;
            }

            private void enter() {
                if (inside.incrementAndGet() != 1) {
                    overlaps.incrementAndGet();
                }
            }

            private void leave() {
                inside.decrementAndGet();
            }
        });
        List<CompletableFuture<Object>> calls = new ArrayList<>();
        int senders = 4;
        int perSender = 500;
        List<Thread> threads = new ArrayList<>();
        for (int t = 0; t < senders; t++) {
            Thread th = Thread.ofPlatform().start(() -> {
                for (int i = 0; i < perSender; i++) {
                    CompletableFuture<Object> f = node.call(svc, i % 3 == 0 ? "call" : "plain", WAIT);
                    synchronized (calls) {
                        calls.add(f);
                    }
                }
            });
            threads.add(th);
        }
        threads.forEach(th -> {
            try {
                th.join();
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
        });
        long max = 0;
        for (CompletableFuture<Object> f : calls) {
            max = Math.max(max, (Long) get(f));
        }
        assertThat(overlaps).hasValue(0);
        assertThat(max).isEqualTo((long) senders * perSender * 101);
    }

    @Test
    void aWaitingHandlerHoldsNoOsThread() {
        int waiters = 10_000;
        List<DeferredReply> parked = java.util.Collections.synchronizedList(new ArrayList<>());
        Handle holder = node.launch(() -> (ctx, m) -> {
            parked.add(m.defer());
            return null;
        });
        int platformBefore = Thread.getAllStackTraces().size();
        List<CompletableFuture<Object>> answers = new ArrayList<>();
        for (int i = 0; i < waiters; i++) {
            Handle waiter = node.launch(() -> (ctx, m) -> "woke with " + ctx.call(holder, "hold me"));
            answers.add(node.call(waiter, "go", WAIT));
        }
        org.awaitility.Awaitility.await().atMost(WAIT).until(() -> node.services().stream()
                .filter(s -> s.handle().equals(holder)).findFirst().orElseThrow().messagesHandled() >= waiters);
        // 10,000 handlers are waiting in call at once; the platform threads barely moved (the virtual
        // thread scheduler has at most one carrier per core, plus the node's timer).
        assertThat(Thread.getAllStackTraces().size()).isLessThan(platformBefore + 2 * Runtime.getRuntime().availableProcessors() + 4);
        for (CompletableFuture<Object> a : answers) {
            assertThat(a).isNotDone();
        }
        assertThat(parked).hasSize(waiters);
        synchronized (parked) {
            parked.forEach(r -> r.reply("ok")); // deferred replies may be completed from any thread
        }
        for (CompletableFuture<Object> a : answers) {
            assertThat(get(a)).isEqualTo("woke with ok");
        }
    }
}
