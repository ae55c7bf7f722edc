package dev.harbor.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.harbor.proto.Committed;
import dev.harbor.proto.Record;
import dev.harbor.service.CallException;
import dev.harbor.service.Handle;
import dev.harbor.service.Node;
import dev.harbor.service.Service;
import dev.harbor.writer.Dialect;
import dev.harbor.writer.Writer;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The writer against a real PostgreSQL server of the test's own, including the server going down mid-stream. */
@Timeout(90)
class PostgresWriterTest {
    private static final Duration WAIT = Duration.ofSeconds(30);

    @TempDir
    Path dir;
    PostgresServer postgres;
    Node node;

    @BeforeEach
    void start() {
        postgres = PostgresServer.create(dir);
        node = Node.builder().id(1).build();
    }

    @AfterEach
    void stop() {
        if (node != null) {
            node.stop();
        }
        if (postgres != null) {
            postgres.close();
        }
    }

    static Record record(String stream, long seq, String body) {
        return Record.newBuilder().setStream(stream).setSeq(seq).setBody(body).build();
    }

    Map<String, String> rows() throws SQLException {
        try (Connection c = DriverManager.getConnection(postgres.jdbcUrl())) {
            return Dialect.stored(c).stream().collect(Collectors.toMap(r -> r.getStream() + "/" + r.getSeq(), Record::getBody));
        }
    }

    @Test
    void acknowledgedRecordsAreRowsAndARepeatIsStoredOnce() throws Exception {
        Handle writer = node.launch(Writer.class, postgres.jdbcUrl());
        List<CompletableFuture<Object>> calls = new ArrayList<>();
        Map<String, String> sent = new HashMap<>();
        for (int i = 0; i < 200; i++) {
            calls.add(node.call(writer, record("pg-" + (i % 4), i, "body " + i + " ü"), WAIT));
            sent.put("pg-" + (i % 4) + "/" + i, "body " + i + " ü");
        }
        calls.add(node.call(writer, record("pg-0", 0, "a repeat"), WAIT));
        for (CompletableFuture<Object> c : calls) {
            assertThat(c.get(WAIT.toSeconds(), TimeUnit.SECONDS)).isInstanceOf(Committed.class);
        }
        assertThat(rows()).isEqualTo(sent);
    }

    @Test
    void theServerStoppedMidStreamLosesNoAcknowledgedRecordAndEveryCallIsAnswered() throws Exception {
        node.launch(() -> new Writer(Writer.Settings.of(postgres.jdbcUrl()).withRetryWindow(Duration.ofSeconds(20))));
        int callers = 8;
        // Callers write until told to stop, so the load is still running when the server goes down and after it is
        // back, however fast this machine commits. Bounded in count in case the test's own waits break.
        int most = 20_000;
        AtomicBoolean enough = new AtomicBoolean();
        AtomicInteger sentCount = new AtomicInteger();
        Map<String, String> outcome = new ConcurrentHashMap<>();
        AtomicInteger acks = new AtomicInteger();
        // When each caller's call in flight started (System.nanoTime), 0 when none.
        AtomicLong[] inFlightSince = new AtomicLong[callers];
        List<CompletableFuture<Object>> runs = new ArrayList<>();
        for (int c = 0; c < callers; c++) {
            String stream = "caller-" + c;
            AtomicLong since = inFlightSince[c] = new AtomicLong();
            Handle h = node.launch(() -> (Service) (ctx, m) -> {
                for (int i = 0; i < most && !enough.get(); i++) {
                    since.set(System.nanoTime());
                    sentCount.incrementAndGet();
                    try {
                        ctx.call(Writer.WRITER_NAME, record(stream, i, "b" + i), WAIT);
                        outcome.put(stream + "/" + i, "ack");
                        acks.incrementAndGet();
                    } catch (CallException e) {
                        outcome.put(stream + "/" + i, "error: " + e.getMessage());
                    }
                }
                since.set(0);
                return "done";
            });
            runs.add(node.call(h, "go", Duration.ofSeconds(80)));
        }
        await().atMost(WAIT).until(() -> acks.get() >= 300);
        postgres.stop();
        // The writer is holding calls while the server is down: one has waited for longer than a commit takes.
        await().atMost(WAIT).until(() -> {
            long now = System.nanoTime();
            for (AtomicLong since : inFlightSince) {
                long s = since.get();
                if (s != 0 && now - s > TimeUnit.MILLISECONDS.toNanos(500)) {
                    return true;
                }
            }
            return false;
        });
        int acksWhileDown = acks.get();
        postgres.start();
        await().atMost(WAIT).until(() -> acks.get() >= acksWhileDown + 300);
        enough.set(true);
        for (CompletableFuture<Object> run : runs) {
            assertThat(run.get(80, TimeUnit.SECONDS)).isEqualTo("done");
        }

        assertThat(outcome).as("every call answered").hasSize(sentCount.get());
        Map<String, String> rows = rows();
        List<String> acked = outcome.entrySet().stream().filter(e -> e.getValue().equals("ack")).map(Map.Entry::getKey).toList();
        assertThat(rows.keySet()).as("every acknowledged record is a row").containsAll(acked);
        // The outage was shorter than the retry window: the writer retried until the server was back.
        assertThat(outcome.values()).as("errors").allMatch("ack"::equals);
        assertThat(rows).hasSize(sentCount.get());
    }
}
