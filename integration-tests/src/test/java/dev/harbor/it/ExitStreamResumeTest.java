package dev.harbor.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.harbor.proto.ExitEvent;
import dev.harbor.proto.ExitStreamItem;
import dev.harbor.proto.KillRequest;
import dev.harbor.proto.ServiceInfo;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A WatchExits subscriber that disconnects and resumes from its last sequence number misses nothing and sees nothing twice. */
@Timeout(120)
class ExitStreamResumeTest {
    private static final Duration WAIT = Duration.ofSeconds(30);
    private ProcessCluster cluster;

    @AfterEach
    void stop() {
        cluster.close();
    }

    @Test
    void resumingFromTheLastSeenSequenceNumberDeliversEveryMissedExitExactlyOnce() {
        cluster = new ProcessCluster("resume", 1);
        String services = IntStream.rangeClosed(1, 12).mapToObj(i -> "dev.harbor.it.Relay(r" + i + ")")
                .collect(Collectors.joining(","));
        cluster.start(1, services);

        ExitStreamRecorder first = ExitStreamRecorder.follow(cluster.adminAsync(1), 0);
        first.awaitCaughtUp(WAIT);
        assertThat(first.items.get(0).hasNode()).as("the node's identity comes first").isTrue();
        List<ServiceInfo> alive = first.items.stream().filter(ExitStreamItem::hasAlive).map(ExitStreamItem::getAlive).toList();
        List<ServiceInfo> relays = alive.stream().filter(s -> !s.getNamesList().isEmpty()).toList();
        assertThat(relays).hasSize(12);

        List<dev.harbor.proto.Handle> killed = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            kill(relays.get(i), killed);
        }
        first.awaitExits(WAIT, exits -> exits.size() == 3);
        long lastSeen = first.exits().get(2).getSeq();
        first.close();

        // While nobody listens, four more exit.
        for (int i = 3; i < 7; i++) {
            kill(relays.get(i), killed);
        }

        ExitStreamRecorder resumed = ExitStreamRecorder.follow(cluster.adminAsync(1), lastSeen);
        resumed.awaitCaughtUp(WAIT);
        kill(relays.get(7), killed); // and one live after the resume
        resumed.awaitExits(WAIT, exits -> exits.size() == 5);

        List<ExitEvent> all = new ArrayList<>(first.exits());
        all.addAll(resumed.exits());
        assertThat(all).extracting(ExitEvent::getSeq).containsExactly(1L, 2L, 3L, 4L, 5L, 6L, 7L, 8L);
        assertThat(all).extracting(ExitEvent::getHandle).containsExactlyElementsOf(killed);
        assertThat(resumed.items.stream().noneMatch(ExitStreamItem::hasGap)).isTrue();
        resumed.close();
    }

    private void kill(ServiceInfo s, List<dev.harbor.proto.Handle> killed) {
        assertThat(cluster.admin(1).kill(KillRequest.newBuilder().setHandle(s.getHandle()).build()).getKilled()).isTrue();
        killed.add(s.getHandle());
    }
}
