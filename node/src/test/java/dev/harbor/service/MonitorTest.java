package dev.harbor.service;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.awaitility.Awaitility;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class MonitorTest {
    private final Node node = Node.builder().id(3).build();

    @AfterEach
    void stop() {
        node.stop();
    }

    @Test
    void watchingALiveServiceCompletesWhenItExits() throws Exception {
        Handle h = node.launch(() -> (ctx, m) -> null);
        CompletableFuture<ExitEvent> watched = node.watch(h);
        // The watch request is handled by the monitor before the kill below only if we wait for it;
        // either order must give the same answer.
        node.kill(h);
        ExitEvent e = watched.get(10, TimeUnit.SECONDS);
        assertThat(e.handle()).isEqualTo(h);
        assertThat(e.reason()).isEqualTo(ExitReason.KILLED);
        assertThat(e.node()).isEqualTo(3);
    }

    @Test
    void aWatchThatRacesTheKillIsStillToldOfTheExit() throws Exception {
        // The watch may reach the monitor while the kill is between "not alive" and "event published".
        for (int i = 0; i < 300; i++) {
            Handle h = node.launch(() -> (ctx, m) -> null);
            CompletableFuture<ExitEvent> watched = node.watch(h);
            node.kill(h);
            assertThat(watched.get(10, TimeUnit.SECONDS).reason()).isEqualTo(ExitReason.KILLED);
        }
    }

    @Test
    void watchingAServiceThatHasAlreadyExitedIsAnsweredAtOnce() throws Exception {
        Handle h = node.launch(() -> (ctx, m) -> null);
        node.kill(h);
        assertThat(node.watch(h).get(10, TimeUnit.SECONDS).reason()).isEqualTo(ExitReason.KILLED);
    }

    @Test
    void watchingAHandleThatNeverExistedFails() {
        Handle never = Handle.of(3, Long.MAX_VALUE);
        CompletableFuture<ExitEvent> f = node.watch(never);
        Awaitility.await().atMost(Duration.ofSeconds(10)).until(f::isDone);
        assertThat(f).isCompletedExceptionally();
        Throwable cause = f.handle((v, t) -> t instanceof java.util.concurrent.CompletionException c ? c.getCause() : t).join();
        assertThat(cause).isInstanceOf(CallException.class).hasMessage("no service " + never + " exists on node 3");
        assertThat(((CallException) cause).failure()).isEqualTo(CallException.Failure.NO_SUCH_SERVICE);
    }

    @Test
    void aServiceWatchingAnotherGetsItsExitEventAsAMessage() {
        Handle target = node.launch(() -> (ctx, m) -> null);
        List<Object> inbox = new CopyOnWriteArrayList<>();
        Handle watcher = node.launch(() -> (ctx, m) -> {
            if (m.payload() instanceof Handle h) {
                ctx.watch(h);
            } else {
                inbox.add(m.payload());
            }
            return null;
        });
        node.send(watcher, target);
        // Whether the monitor gets the watch before or after the kill, the watcher is told once.
        node.kill(target);
        Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> inbox.size() == 1);
        ExitEvent event = (ExitEvent) inbox.get(0);
        assertThat(event.handle()).isEqualTo(target);
        assertThat(event.reason()).isEqualTo(ExitReason.KILLED);

        node.send(watcher, target); // already gone: told at once
        Awaitility.await().atMost(Duration.ofSeconds(10)).until(() -> inbox.size() == 2);
        assertThat(inbox.get(1)).isEqualTo(event);
    }

    @Test
    void anExitLogThatNoLongerHoldsAnEventSaysSo() {
        ExitLog log = new ExitLog(3, 4, java.time.Clock.systemUTC());
        for (int i = 1; i <= 10; i++) {
            log.publish(Handle.of(3, i), List.of(), ExitReason.EXIT, "");
        }
        assertThat(log.after(6)).extracting(ExitEvent::seq).containsExactly(7L, 8L, 9L, 10L);
        assertThat(log.after(5)).as("event 6 is gone: a gap, not a silent skip").isNull();
        assertThat(log.after(10)).isEmpty();
        assertThat(log.find(Handle.of(3, 2))).isEmpty();
        assertThat(log.find(Handle.of(3, 9))).get().extracting(ExitEvent::seq).isEqualTo(9L);
    }
}
