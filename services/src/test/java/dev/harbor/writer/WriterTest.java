package dev.harbor.writer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.harbor.proto.Committed;
import dev.harbor.proto.Drain;
import dev.harbor.proto.Record;
import dev.harbor.service.CallException;
import dev.harbor.service.ExitEvent;
import dev.harbor.service.ExitReason;
import dev.harbor.service.Handle;
import dev.harbor.service.LaunchException;
import dev.harbor.service.NodeFixture;
import dev.harbor.service.Service;
import dev.harbor.shutdown.OrderedExit;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The writer against a real H2 file database: what it acknowledges is in the table, and every call is answered. */
@Timeout(120)
class WriterTest extends NodeFixture {

    @TempDir
    Path dir;
    String url;

    @BeforeEach
    void database() {
        url = "jdbc:h2:file:" + dir.resolve("harbor");
    }

    static Record record(String stream, long seq, String body) {
        return Record.newBuilder().setStream(stream).setSeq(seq).setBody(body).build();
    }

    Writer.Settings settings() {
        return Writer.Settings.of(url);
    }

    /** Every row of the table, "stream/seq" to body, read over a connection of the test's own. */
    Map<String, String> rows() throws SQLException {
        try (Connection c = DriverManager.getConnection(url)) {
            return Dialect.stored(c).stream().collect(Collectors.toMap(r -> r.getStream() + "/" + r.getSeq(), Record::getBody));
        }
    }

    void sql(String statement) throws SQLException {
        try (Connection c = DriverManager.getConnection(url); Statement s = c.createStatement()) {
            s.execute(statement);
        }
    }

    CallException error(Handle writer, Object payload) {
        return (CallException) failure(node.call(writer, payload, WAIT));
    }

    @Test
    void acknowledgedRecordsAreInTheTableAndTheWriterRegistersByName() throws Exception {
        Handle writer = node.launch(Writer.class, url); // what services=dev.harbor.writer.Writer(url) does
        assertThat(node.whereis(Writer.WRITER_NAME)).contains(writer);
        assertThat(node.services()).filteredOn(s -> s.handle().equals(writer)).singleElement()
                .satisfies(s -> assertThat(s.tags()).containsEntry(OrderedExit.ROLE_TAG, OrderedExit.WRITER));

        Map<String, String> sent = new HashMap<>();
        for (int i = 0; i < 20; i++) {
            String body = "body " + i + " é ✓";
            Object reply = call(writer, record("session-" + (i % 3), i, body));
            assertThat(reply).isInstanceOf(Committed.class);
            assertThat(((Committed) reply).getCommit()).isPositive();
            sent.put("session-" + (i % 3) + "/" + i, body);
        }
        assertThat(rows()).isEqualTo(sent);
        // Acknowledged one at a time: each call waited for its own commit.
        assertThat(((Committed) call(writer, record("last", 0, ""))).getCommit()).isEqualTo(21);
    }

    @Test
    void aRepeatedStreamAndSeqIsAcknowledgedAgainAndStoredOnceWithTheFirstBody() throws Exception {
        Handle writer = node.launch(() -> new Writer(settings()));
        assertThat(call(writer, record("s", 1, "first"))).isInstanceOf(Committed.class);
        assertThat(call(writer, record("s", 1, "second"))).isInstanceOf(Committed.class);
        // The same key twice in one batch.
        CompletableFuture<Object> a = node.call(writer, record("t", 7, "x"), WAIT);
        CompletableFuture<Object> b = node.call(writer, record("t", 7, "y"), WAIT);
        assertThat(get(a)).isInstanceOf(Committed.class);
        assertThat(get(b)).isInstanceOf(Committed.class);
        assertThat(rows()).containsOnly(Map.entry("s/1", "first"), Map.entry("t/7", "x"));
    }

    @Test
    void malformedRecordsAndSendsAreRefusedWithTheReasonAndNothingIsStored() throws Exception {
        Handle writer = node.launch(() -> new Writer(settings()));
        assertThat(error(writer, record("", 1, "b"))).hasMessageContaining("not stored: the stream must be 1 to 200 characters, got 0")
                .extracting(CallException::failure).isEqualTo(CallException.Failure.HANDLER_FAILED);
        assertThat(error(writer, record("x".repeat(201), 1, "b"))).hasMessageContaining("the stream must be 1 to 200 characters, got 201");
        assertThat(error(writer, record("s", -1, "b"))).hasMessageContaining("the seq must be 0 or more, got -1");
        assertThat(error(writer, record("s", 1, "b".repeat(4097)))).hasMessageContaining("the body must be at most 4096 characters");
        assertThat(error(writer, record("s", 1, "a\u0000b"))).hasMessageContaining("the body contains a NUL character at 1");
        assertThat(error(writer, record("s\uD800", 1, "b"))).hasMessageContaining("the stream contains a lone UTF-16 surrogate");
        assertThat(error(writer, "hello")).hasMessageContaining("does not understand a java.lang.String");
        node.send(writer, record("sent", 1, "b")); // a send cannot be answered: refused (and logged)
        // The longest valid record is stored, and nothing else is.
        assertThat(call(writer, record("x".repeat(200), 0, "b".repeat(4096)))).isInstanceOf(Committed.class);
        assertThat(rows()).containsOnlyKeys("x".repeat(200) + "/0");
    }

    @Test
    void drainCommitsEverythingQueuedBeforeItThenExitsAndLaterCallsGetAnError() throws Exception {
        Handle writer = node.launch(() -> new Writer(settings()));
        List<CompletableFuture<Object>> before = new ArrayList<>();
        for (int i = 0; i < 500; i++) {
            before.add(node.call(writer, record("d", i, "b" + i), WAIT));
        }
        node.send(writer, Drain.newBuilder().setRunId("test").setTimeoutMs(5000).build());
        CompletableFuture<Object> after = node.call(writer, record("late", 0, "b"), WAIT);

        ExitEvent exit = get(node.watch(writer));
        assertThat(exit.reason()).isEqualTo(ExitReason.EXIT);
        assertThat(exit.names()).containsExactly(Writer.WRITER_NAME);
        for (CompletableFuture<Object> f : before) {
            assertThat(get(f)).isInstanceOf(Committed.class);
        }
        assertThat(rows()).hasSize(500).doesNotContainKey("late/0");
        // Sent after the Drain: refused while draining, or "gone" once exited; never silence.
        CallException late = (CallException) failure(after);
        assertThat(late.getMessage()).containsAnyOf("writer is draining: not stored", "is gone (EXIT)");
        CallException gone = error(writer, record("later", 0, "b"));
        assertThat(gone.failure()).isEqualTo(CallException.Failure.GONE);
        assertThat(gone.exitReason()).isEqualTo(ExitReason.EXIT);
        assertThat(node.whereis(Writer.WRITER_NAME)).isEmpty();
    }

    @Test
    void manyConcurrentCallersAreAllAnsweredInBatchesAndEveryAcknowledgementIsARow() throws Exception {
        int callers = 50;
        int each = 200;
        Handle writer = node.launch(() -> new Writer(settings()));
        Map<Long, Integer> perCommit = new ConcurrentHashMap<>();
        List<Handle> clients = new ArrayList<>();
        for (int c = 0; c < callers; c++) {
            String stream = "client-" + c;
            clients.add(node.launch(() -> (Service) (ctx, m) -> {
                int acks = 0;
                for (int i = 0; i < each; i++) {
                    Committed done = (Committed) ctx.call(Writer.WRITER_NAME, record(stream, i, "b" + i), WAIT);
                    perCommit.merge(done.getCommit(), 1, Integer::sum);
                    acks++;
                }
                return acks;
            }));
        }
        List<CompletableFuture<Object>> runs = clients.stream().map(h -> node.call(h, "go", Duration.ofSeconds(60))).toList();
        for (CompletableFuture<Object> run : runs) {
            assertThat(run.get()).isEqualTo(each);
        }
        int acks = perCommit.values().stream().mapToInt(Integer::intValue).sum();
        assertThat(acks).isEqualTo(callers * each);
        assertThat(rows()).hasSize(callers * each);
        // Batching: far fewer commits than records.
        assertThat(perCommit.size()).isLessThan(callers * each / 5);
        assertThat(perCommit.values()).anySatisfy(n -> assertThat(n).isGreaterThan(1));
        node.kill(writer);
    }

    @Test
    void aBatchNeverExceedsTheCap() throws Exception {
        Handle writer = node.launch(() -> new Writer(settings().withMaxBatch(10)));
        List<CompletableFuture<Object>> calls = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            calls.add(node.call(writer, record("cap", i, "b"), WAIT));
        }
        Map<Long, Integer> perCommit = new HashMap<>();
        for (CompletableFuture<Object> f : calls) {
            perCommit.merge(((Committed) get(f)).getCommit(), 1, Integer::sum);
        }
        assertThat(perCommit.values()).allSatisfy(n -> assertThat(n).isBetween(1, 10));
        assertThat(perCommit.size()).isGreaterThanOrEqualTo(30);
        assertThat(rows()).hasSize(300);
    }

    @Test
    void aDroppedTableOrAClosedDatabaseIsRetriedOnAFreshConnectionAndTheRecordCommitted() throws Exception {
        Handle writer = node.launch(() -> new Writer(settings()));
        assertThat(call(writer, record("r", 1, "before"))).isInstanceOf(Committed.class);

        sql("DROP TABLE " + Dialect.TABLE);
        assertThat(call(writer, record("r", 2, "after the drop"))).isInstanceOf(Committed.class);
        assertThat(rows()).containsOnly(Map.entry("r/2", "after the drop"));

        sql("SHUTDOWN"); // closes the database under the writer's connection
        assertThat(call(writer, record("r", 3, "after the shutdown"))).isInstanceOf(Committed.class);
        assertThat(rows()).containsOnly(Map.entry("r/2", "after the drop"), Map.entry("r/3", "after the shutdown"));
    }

    @Test
    void aDatabaseGoneForLongerThanTheRetryWindowFailsTheRecordsLoudlyAndTheWriterRecoversAfter() throws Exception {
        sql("SELECT 1"); // create the database, so that IFEXISTS finds it at init
        String writerUrl = url + ";IFEXISTS=TRUE";
        Handle writer = node.launch(() -> new Writer(Writer.Settings.of(writerUrl).withRetryWindow(Duration.ofSeconds(1))));
        assertThat(call(writer, record("g", 1, "stored"))).isInstanceOf(Committed.class);

        sql("SHUTDOWN");
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.delete(f);
            }
        }
        CallException e = error(writer, record("g", 2, "never stored"));
        assertThat(e.failure()).isEqualTo(CallException.Failure.HANDLER_FAILED);
        assertThat(e.getMessage()).contains("record (g, 2) NOT committed, not stored").contains("Database \"")
                .contains("not found");

        sql("SELECT 1"); // the database is back (empty): the writer recreates its table and goes on
        assertThat(call(writer, record("g", 3, "stored again"))).isInstanceOf(Committed.class);
        assertThat(rows()).containsOnly(Map.entry("g/3", "stored again"));
    }

    @Test
    void aDrainWhileTheDatabaseIsDownFailsWhatItHoldsBeforeTheDrainTimeoutRefusesNewRecordsAndExits() throws Exception {
        sql("SELECT 1");
        String writerUrl = url + ";IFEXISTS=TRUE";
        Handle writer = node.launch(() -> new Writer(Writer.Settings.of(writerUrl).withRetryWindow(Duration.ofSeconds(60))));
        sql("SHUTDOWN");
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.delete(f);
            }
        }
        CompletableFuture<Object> held = node.call(writer, record("h", 1, "b"), WAIT);
        node.send(writer, Drain.newBuilder().setRunId("test").setTimeoutMs(1500).build());
        // While it retries, the draining writer refuses new records.
        CallException refused = error(writer, record("h", 2, "b"));
        assertThat(refused.getMessage()).contains("writer is draining: not stored (record (h, 2))");

        ExitEvent exit = get(node.watch(writer));
        assertThat(exit.reason()).isEqualTo(ExitReason.EXIT);
        CallException e = (CallException) failure(held);
        assertThat(e.getMessage()).contains("record (h, 1) NOT committed, not stored");
    }

    @Test
    void aKilledWriterClosesItsConnection() throws Exception {
        Handle writer = node.launch(() -> new Writer(settings()));
        assertThat(call(writer, record("k", 1, "b"))).isInstanceOf(Committed.class);
        try (Connection c = DriverManager.getConnection(url)) {
            assertThat(sessions(c)).isEqualTo(2); // the writer's and this one
            node.kill(writer);
            await().atMost(WAIT).until(() -> sessions(c) == 1);
        }
    }

    static int sessions(Connection c) throws SQLException {
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT COUNT(*) FROM INFORMATION_SCHEMA.SESSIONS")) {
            rs.next();
            return rs.getInt(1);
        }
    }

    // ------------------------------------------------------------------ the commit thread

    /**
     * A transaction of the test's own holding the row {@code (stream, seq)} uncommitted: the writer's
     * statement on that key waits for it (up to the writer's {@code LOCK_TIMEOUT}), so a batch stays in
     * the database for as long as the test wants.
     */
    final class RowLock implements AutoCloseable {
        final Connection connection;
        private final int session;

        RowLock(String stream, long seq) throws SQLException {
            connection = DriverManager.getConnection(url);
            connection.setAutoCommit(false);
            try (PreparedStatement ps = connection.prepareStatement("INSERT INTO " + Dialect.TABLE
                    + " (stream, seq, body) VALUES (?, ?, 'the test''s')")) {
                ps.setString(1, stream);
                ps.setLong(2, seq);
                ps.executeUpdate();
            }
            try (Statement s = connection.createStatement(); ResultSet rs = s.executeQuery("SELECT SESSION_ID()")) {
                rs.next();
                session = rs.getInt(1);
            }
        }

        /**
         * The other sessions inside the writer's statement now: waiting for this transaction, once one
         * has been seen there (H2 leaves {@code BLOCKER_ID} empty for a row lock, so the statement tells).
         */
        List<Integer> waiters() throws SQLException {
            List<Integer> ids = new ArrayList<>();
            try (PreparedStatement ps = connection.prepareStatement("SELECT SESSION_ID FROM INFORMATION_SCHEMA.SESSIONS"
                    + " WHERE SESSION_ID <> ? AND EXECUTING_STATEMENT LIKE 'MERGE INTO " + Dialect.TABLE + "%'")) {
                ps.setInt(1, session);
                try (ResultSet rs = ps.executeQuery()) {
                    while (rs.next()) {
                        ids.add(rs.getInt(1));
                    }
                }
            }
            return ids;
        }

        /** Rolls the row back: the writer's statement goes on. */
        void release() throws SQLException {
            connection.rollback();
        }

        @Override
        public void close() throws SQLException {
            connection.rollback();
            connection.close();
        }
    }

    /** A writer named {@code name} on the test's database, with H2's {@code LOCK_TIMEOUT} at {@code lockTimeoutMs}, its meters in {@code registry}. */
    Handle writer(String name, int lockTimeoutMs, MeterRegistry registry) {
        node.provide(MeterRegistry.class, registry);
        Writer.Settings s = Writer.Settings.of(url + ";LOCK_TIMEOUT=" + lockTimeoutMs).withName(name);
        return node.launch(() -> new Writer(s));
    }

    static double meter(MeterRegistry registry, String name, String... tags) {
        return registry.find(name).tags(tags).meters().stream().mapToDouble(m -> m.measure().iterator().next().getValue()).sum();
    }

    List<CompletableFuture<Object>> calls(Handle writer, String stream, int n) {
        List<CompletableFuture<Object>> calls = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            calls.add(node.call(writer, record(stream, i, "b" + i), WAIT));
        }
        return calls;
    }

    static boolean threadAlive(String name) {
        return Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().equals(name) && t.isAlive());
    }

    @Test
    void whileABatchIsInTheDatabaseTheWriterGoesOnTakingRecordsAndAnswersEachAfterItsCommit() throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        Handle writer = writer("w-inflight", 20_000, registry);
        assertThat(threadAlive("harbor-writer-w-inflight")).isTrue();
        CompletableFuture<Object> first;
        List<CompletableFuture<Object>> meanwhile;
        try (RowLock lock = new RowLock("held", 0)) {
            first = node.call(writer, record("held", 0, "the writer's"), WAIT);
            await().atMost(WAIT).until(() -> !lock.waiters().isEmpty()); // the commit thread waits in the database

            // The handler is not held up by the commit: a malformed record is refused at once, and new
            // records are taken (counted as pending), though none of them can be committed yet.
            assertThat(error(writer, record("", 1, "b"))).hasMessageContaining("not stored: the stream must be 1 to 200");
            meanwhile = calls(writer, "meanwhile", 20);
            await().atMost(WAIT).until(() -> meter(registry, "harbor.writer.pending") == 21);
            assertThat(first).isNotDone();
            assertThat(meanwhile).noneMatch(CompletableFuture::isDone);
            assertThat(meter(registry, "harbor.writer.records", "outcome", "committed")).isZero();

            lock.release();
            long held = ((Committed) get(first)).getCommit();
            for (CompletableFuture<Object> f : meanwhile) {
                // In the held commit (joined while its statements ran) or a later one, never an earlier one.
                assertThat(((Committed) get(f)).getCommit()).isGreaterThanOrEqualTo(held);
            }
        }
        Map<String, String> rows = rows();
        assertThat(rows).hasSize(21).containsEntry("held/0", "the writer's");
        await().atMost(WAIT).until(() -> meter(registry, "harbor.writer.pending") == 0);
        assertThat(meter(registry, "harbor.writer.records", "outcome", "committed")).isEqualTo(21);
        assertThat(meter(registry, "harbor.writer.records", "outcome", "refused")).isEqualTo(1);
        assertThat(meter(registry, "harbor.writer.database.errors")).isZero();
    }

    @Test
    void aBatchThatFailsInTheDatabaseIsTriedAgainWithTheRecordsThatCameMeanwhileAndEachIsCommittedOnce() throws Exception {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        Handle writer = writer("w-retry", 300, registry); // a lock held longer than 300 ms fails the attempt
        CompletableFuture<Object> first;
        List<CompletableFuture<Object>> meanwhile;
        try (RowLock lock = new RowLock("held", 0)) {
            first = node.call(writer, record("held", 0, "the writer's"), WAIT);
            await().atMost(WAIT).until(() -> !lock.waiters().isEmpty());
            int firstSession = lock.waiters().getFirst();
            meanwhile = calls(writer, "meanwhile", 20);
            // The attempt times out on the lock, is rolled back, and the batch is tried again on a fresh
            // connection: another session, which waits for the lock again.
            await().atMost(WAIT).pollInterval(Duration.ofMillis(10))
                    .until(() -> lock.waiters().stream().anyMatch(id -> id != firstSession));
            assertThat(meter(registry, "harbor.writer.database.errors")).isPositive();
            assertThat(first).isNotDone();
            assertThat(meanwhile).noneMatch(CompletableFuture::isDone);
            lock.release();
        }
        Set<Long> commits = new HashSet<>();
        commits.add(((Committed) get(first)).getCommit());
        for (CompletableFuture<Object> f : meanwhile) {
            commits.add(((Committed) get(f)).getCommit());
        }
        assertThat(rows()).hasSize(21).containsEntry("held/0", "the writer's");
        assertThat(meter(registry, "harbor.writer.records", "outcome", "committed")).isEqualTo(21);
        assertThat(meter(registry, "harbor.writer.records", "outcome", "failed")).isZero();
        // And the writer goes on as before.
        assertThat(((Committed) call(writer, record("after", 0, "b"))).getCommit()).isGreaterThan(commits.stream().mapToLong(c -> c).max().orElseThrow());
    }

    @Test
    void aDrainWhileABatchIsInTheDatabaseWaitsForItCommitsEverythingQueuedBeforeTheDrainThenExits() throws Exception {
        Handle writer = writer("w-drain", 20_000, new SimpleMeterRegistry());
        CompletableFuture<Object> first;
        List<CompletableFuture<Object>> before;
        CompletableFuture<ExitEvent> exit;
        try (RowLock lock = new RowLock("held", 0)) {
            first = node.call(writer, record("held", 0, "the writer's"), WAIT);
            await().atMost(WAIT).until(() -> !lock.waiters().isEmpty());
            before = calls(writer, "before", 20);
            node.send(writer, Drain.newBuilder().setRunId("test").setTimeoutMs(10_000).build());
            exit = node.watch(writer);
            // Refused at once, though the drain itself waits for the database.
            assertThat(error(writer, record("late", 0, "b"))).hasMessageContaining("writer is draining: not stored (record (late, 0))");
            assertThat(exit).isNotDone();
            assertThat(first).isNotDone();
            lock.release();
        }
        assertThat(get(exit).reason()).isEqualTo(ExitReason.EXIT);
        assertThat(get(first)).isInstanceOf(Committed.class);
        for (CompletableFuture<Object> f : before) {
            assertThat(get(f)).isInstanceOf(Committed.class);
        }
        assertThat(rows()).hasSize(21).containsEntry("held/0", "the writer's").doesNotContainKey("late/0");
        await().atMost(WAIT).until(() -> !threadAlive("harbor-writer-w-drain"));
    }

    @Test
    void aKillWhileABatchIsInTheDatabaseReturnsItsCallersAreToldGoneAndTheBatchIsRolledBack() throws Exception {
        Handle writer = writer("w-kill", 20_000, new SimpleMeterRegistry());
        try (RowLock lock = new RowLock("held", 0)) {
            CompletableFuture<Object> first = node.call(writer, record("held", 0, "the writer's"), WAIT);
            await().atMost(WAIT).until(() -> !lock.waiters().isEmpty());
            CompletableFuture<Object> queued = node.call(writer, record("queued", 0, "b"), WAIT);
            await().atMost(WAIT).until(() -> lock.waiters().size() == 1 && !queued.isDone());

            // The kill does not wait for the database (the exit hook waits at most a second for the commit thread).
            assertThat(CompletableFuture.supplyAsync(() -> node.kill(writer)).get(WAIT.toMillis(), TimeUnit.MILLISECONDS)).isTrue();
            for (CompletableFuture<Object> f : List.of(first, queued)) {
                CallException gone = (CallException) failure(f);
                assertThat(gone.failure()).isEqualTo(CallException.Failure.GONE);
                assertThat(gone.exitReason()).isEqualTo(ExitReason.KILLED);
            }
            assertThat(threadAlive("harbor-writer-w-kill")).isTrue(); // still inside the database

            // The statement goes on once the lock is gone; the writer has ended, so the commit thread rolls
            // back instead of committing, closes its connection and ends.
            lock.release();
            await().atMost(WAIT).until(() -> sessions(lock.connection) == 1);
            await().atMost(WAIT).until(() -> !threadAlive("harbor-writer-w-kill"));
        }
        assertThat(rows()).isEmpty();
    }

    @Test
    void aDatabaseThatCannotBeOpenedFailsTheLaunchWithTheReasonAndNothingIsRegistered() {
        assertThatThrownBy(() -> node.launch(Writer.class, url + ";IFEXISTS=TRUE"))
                .isInstanceOf(LaunchException.class)
                .hasMessageContaining("writer: cannot open the database jdbc:h2:file:")
                .hasMessageContaining("Check the JDBC URL");
        assertThatThrownBy(() -> node.launch(Writer.class, "jdbc:nosuchdb:x"))
                .isInstanceOf(LaunchException.class).hasMessageContaining("No suitable driver");
        assertThatThrownBy(() -> node.launch(Writer.class, "/tmp/harbor.db"))
                .isInstanceOf(LaunchException.class).hasMessageContaining("is not a JDBC URL");
        assertThat(node.whereis(Writer.WRITER_NAME)).isEmpty();
    }

    @Test
    void aServicesLineSplitAtSemicolonsIsJoinedBackIntoTheH2Url() throws Exception {
        // services=dev.harbor.writer.Writer(jdbc:h2:file:/x/harbor;IFEXISTS=FALSE;LOCK_TIMEOUT=5000) passes three strings
        Handle writer = node.launch(Writer.class, url, "IFEXISTS=FALSE", "LOCK_TIMEOUT=5000");
        assertThat(call(writer, record("joined", 1, "b"))).isInstanceOf(Committed.class);
        assertThat(rows()).containsOnlyKeys("joined/1");
        assertThatThrownBy(() -> node.launch(Writer.class, url, "NO_SUCH_SETTING=1"))
                .isInstanceOf(LaunchException.class).hasMessageContaining("NO_SUCH_SETTING");
    }

    @Test
    void withoutAUrlTheLaunchSaysWhereToGiveIt() {
        assertThatThrownBy(() -> node.launch(Writer.class))
                .isInstanceOf(LaunchException.class).hasMessageContaining("the writer needs a database")
                .hasMessageContaining("HARBOR_WRITER_URL");
    }

    @Test
    void aPasswordIsNeverShown() {
        assertThat(Writer.mask("jdbc:postgresql://db:5432/app?user=app&password=s3cret&ssl=true"))
                .isEqualTo("jdbc:postgresql://db:5432/app?user=app&password=***&ssl=true");
        assertThat(Writer.mask("jdbc:h2:tcp://db/harbor;USER=sa;PASSWORD=s3cret")).doesNotContain("s3cret");
        assertThat(Writer.Settings.of(url).withCredentials("app", "s3cret").toString()).doesNotContain("s3cret").contains("***");
    }
}
