package dev.harbor.demo.run;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The clients' side of the zero-loss check, on hand-made clients and rows. */
class ClientCheckTest {
    private static DemoClient client(String session, long sent, Long... acked) {
        DemoClient c = new DemoClient(1, new InetSocketAddress("127.0.0.1", 1), new DemoClient.Tally(), Duration.ofSeconds(1));
        c.session = session;
        c.sent = sent;
        c.acked.addAll(List.of(acked));
        return c;
    }

    @Test
    void acknowledgedLinesAllStoredWithSummariesPassEveryCheck() {
        ClientCheck k = new ClientCheck(List.of(client("a", 3, 1L, 2L), client("b", 2, 1L)),
                Map.of("a", Set.of(0L, 1L, 2L), "b", Set.of(0L, 1L)));
        assertThat(k.acked).isEqualTo(3);
        assertThat(k.stored).as("summaries (seq 0) are not lines").isEqualTo(3);
        assertThat(k.lost).isZero();
        assertThat(k.storedNotAcked).isZero();
        assertThat(k.requests).isEqualTo(5);
        assertThat(k.checks()).hasSize(3).allSatisfy(c -> assertThat(c.passed()).as(c.name()).isTrue());
    }

    @Test
    void aMissingAcknowledgedLineAnUnacknowledgedRowAnUnansweredRequestAndAMissingSummaryEachFailTheirCheck() {
        DemoClient cut = client("b", 2, 1L);
        cut.unanswered = 1;
        cut.failure = "the server closed the connection with request 2 unanswered";
        ClientCheck k = new ClientCheck(List.of(client("a", 3, 1L, 2L), cut),
                Map.of("a", Set.of(0L, 1L), "b", Set.of(1L, 2L), "stranger", Set.of(1L)));
        assertThat(k.lost).as("a's line 2").isEqualTo(1);
        assertThat(k.storedNotAcked).as("b's line 2 and the unknown session's line").isEqualTo(2);
        assertThat(k.unanswered).isEqualTo(1);
        assertThat(k.checks()).extracting(DemoReport.Check::passed).containsExactly(false, false, false);
        assertThat(k.checks().get(1).detail()).contains("client b: the server closed the connection with request 2 unanswered");
        assertThat(k.checks().get(2).detail()).contains("1 of 2 sessions' summaries stored (1 missing)");
    }
}
