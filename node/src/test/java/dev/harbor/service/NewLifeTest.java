package dev.harbor.service;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * {@link Node#newLife}: what a node does in its process when its cluster declared its life lost.
 * Every service of the old life, the monitor included, ends once with the given reason; everyone they
 * owe is answered; a new monitor takes over; old handles stay dead; the exit log goes on.
 */
@Timeout(60)
class NewLifeTest {
    private final Node node = Node.builder().id(1).build();

    @AfterEach
    void stop() {
        node.stop();
        assertThat(node.activeThreads()).as("service threads left after stop").isZero();
    }

    @Test
    void everyServiceOfTheOldLifeEndsOnceANewMonitorTakesOverAndOldHandlesStayDead() throws Exception {
        Handle oldMonitor = node.monitor();
        Handle named = node.launch(NamedService.class, "writer");
        Handle parked = node.launch(() -> (ctx, msg) -> {
            msg.defer(); // never answered by the service: the new life must answer its caller
            return null;
        });
        CompletableFuture<Object> owed = node.call(parked, "x", null);
        CompletableFuture<ExitEvent> watched = node.watch(named);
        long seqBefore = node.exits().lastSeq();
        long firstBefore = node.firstIdOfThisLife();

        long first = node.newLife(ExitReason.NODE_LOST, "declared lost in a test");

        assertThat(first).isGreaterThan(firstBefore).isEqualTo(node.firstIdOfThisLife());
        assertThat(node.monitor()).isNotEqualTo(oldMonitor);
        assertThat(node.monitor().id()).isGreaterThanOrEqualTo(first);
        assertThat(watched.get(10, java.util.concurrent.TimeUnit.SECONDS).reason()).isEqualTo(ExitReason.NODE_LOST);
        CallException answered = (CallException) org.junit.jupiter.api.Assertions.assertThrows(
                java.util.concurrent.ExecutionException.class, () -> owed.get(10, java.util.concurrent.TimeUnit.SECONDS)).getCause();
        assertThat(answered.exitReason()).isEqualTo(ExitReason.NODE_LOST);
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10))
                .until(() -> node.exits().after(seqBefore).stream().anyMatch(e -> e.handle().equals(oldMonitor)));
        List<ExitEvent> ended = node.exits().after(seqBefore);
        assertThat(ended).extracting(ExitEvent::handle).containsExactlyInAnyOrder(named, parked, oldMonitor);
        assertThat(ended).allSatisfy(e -> assertThat(e.reason()).isEqualTo(ExitReason.NODE_LOST));
        assertThat(ended).extracting(ExitEvent::seq).as("the log's numbering goes on").startsWith(seqBefore + 1);

        assertThat(node.services()).extracting(ServiceInfo::handle).containsExactly(node.monitor());
        assertThat(node.whereis("writer")).as("names of the old life are released").isEmpty();
        CallException gone = (CallException) org.junit.jupiter.api.Assertions.assertThrows(java.util.concurrent.ExecutionException.class,
                () -> node.call(named, "hi", java.time.Duration.ofSeconds(5)).get(10, java.util.concurrent.TimeUnit.SECONDS)).getCause();
        assertThat(gone.failure()).isEqualTo(CallException.Failure.GONE);

        // The new life works as any: launches get new handles, names can be taken again, exits are watched.
        Handle again = node.launch(NamedService.class, "writer");
        assertThat(again.id()).isGreaterThan(node.monitor().id());
        assertThat(node.whereis("writer")).contains(again);
        assertThat(node.call("writer", "hi", java.time.Duration.ofSeconds(5)).get(10, java.util.concurrent.TimeUnit.SECONDS))
                .isEqualTo("hi");
        assertThat(node.kill(again)).isTrue();
        assertThat(node.watch(again).get(10, java.util.concurrent.TimeUnit.SECONDS).reason()).isEqualTo(ExitReason.KILLED);
    }
}
