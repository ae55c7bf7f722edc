package dev.harbor.benchmarks;

import dev.harbor.proto.Committed;
import dev.harbor.proto.Record;
import dev.harbor.service.Handle;
import dev.harbor.service.Message;
import dev.harbor.service.Node;
import dev.harbor.service.Service;
import dev.harbor.service.ServiceContext;
import dev.harbor.writer.Dialect;
import dev.harbor.writer.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.Comparator;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Rows committed per second: the reference {@link Writer} fed by concurrent callers, against a bare
 * JDBC batch-insert loop on the same kind of database in the same run.
 *
 * <p><b>Writer.</b> One node in this JVM; the writer on an embedded H2 file database in a fresh temp
 * folder; {@code callers} services, each calling the writer with one {@link Record} after another and
 * waiting for each {@code Committed} (so at most {@code callers} records are in flight, and the
 * writer's batches hold at most that many).
 *
 * <p><b>Anchor.</b> One thread, its own H2 file database of the same kind, the same table and the same
 * statement ({@link Dialect#H2}: created and readied the same way, {@code WRITE_DELAY 0}), inserting in
 * JDBC batches of {@code callers} rows with one commit per batch: the writer's best case with that many
 * callers, with no messaging, no replies and no idempotency bookkeeping around it.
 *
 * <p><b>One operation is one committed row.</b> An invocation stores {@link #ROWS} new rows
 * ({@link OperationsPerInvocation}); keys only grow, so every row is new and the tables grow alike.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms2g", "-Xmx2g"})
@Warmup(iterations = 3, time = 3)
@Measurement(iterations = 5, time = 3)
public class WriterThroughput {

    /** Rows per invocation, across all callers. */
    static final int ROWS = 9_600;
    static final Duration CALL_TIMEOUT = Duration.ofSeconds(30);

    @Param({"writer", "jdbc"})
    public String side;

    @Param({"1", "32"})
    public int callers;

    private Path dir;
    private Rig rig;

    @Setup(Level.Trial)
    public void start() throws Exception {
        if (ROWS % callers != 0) {
            throw new IllegalArgumentException(callers + " callers cannot share " + ROWS + " rows evenly");
        }
        dir = Files.createTempDirectory("harbor-writer-bench-");
        String url = "jdbc:h2:file:" + dir.resolve("harbor");
        rig = switch (side) {
            case "writer" -> new WriterRig(url, callers);
            case "jdbc" -> new JdbcRig(url, callers);
            default -> throw new IllegalArgumentException("unknown side '" + side + "': use writer or jdbc");
        };
    }

    @TearDown(Level.Trial)
    public void stop() throws Exception {
        rig.close();
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path f : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(f);
            }
        }
    }

    /** Commits {@link #ROWS} new rows. */
    @Benchmark
    @OperationsPerInvocation(ROWS)
    public void commitRows() throws Exception {
        rig.round(ROWS / callers);
    }

    interface Rig extends AutoCloseable {
        /** Stores {@code perCaller} new rows for each caller; returns when every one is committed. */
        void round(int perCaller) throws Exception;
    }

    static Record record(String stream, long seq) {
        return Record.newBuilder().setStream(stream).setSeq(seq).setBody("a body of 32 characters, roughly").build();
    }

    // ------------------------------------------------------------------ the writer

    /** A round for a caller: how many records, and the latch to count down when all are acknowledged. */
    record Round(int records, CountDownLatch done) {
    }

    /** Calls the writer with its next records one after another. Its fields are its handlers' own. */
    static final class Caller implements Service {
        private final String stream;
        private final AtomicLong lastCommit;
        private long next;

        Caller(String stream, AtomicLong lastCommit) {
            this.stream = stream;
            this.lastCommit = lastCommit;
        }

        @Override
        public Object receive(ServiceContext ctx, Message m) {
            Round round = (Round) m.payload();
            for (int i = 0; i < round.records(); i++) {
                // A cast that fails unless the reply is Committed; an error reply throws.
                Committed c = (Committed) ctx.call(Writer.WRITER_NAME, record(stream, next++), CALL_TIMEOUT);
                lastCommit.accumulateAndGet(c.getCommit(), Math::max);
            }
            round.done().countDown();
            return null;
        }
    }

    static final class WriterRig implements Rig {
        private final Node node = Node.builder().id(1).build();
        private final Handle[] callers;
        /** The highest commit number any caller was answered with: the writer's commits so far. */
        private final AtomicLong commits = new AtomicLong();
        private long rows;

        WriterRig(String url, int n) {
            node.launch(Writer.class, url);
            callers = new Handle[n];
            for (int i = 0; i < n; i++) {
                String stream = "caller-" + i;
                callers[i] = node.launch(() -> new Caller(stream, commits));
            }
        }

        @Override
        public void round(int perCaller) {
            CountDownLatch done = new CountDownLatch(callers.length);
            for (Handle c : callers) {
                node.send(c, new Round(perCaller, done));
            }
            BenchSupport.await(done, "a round of writer calls");
            rows += (long) perCaller * callers.length;
        }

        @Override
        public void close() {
            System.out.printf("%nwriter: %d rows in %d commits, %.1f rows per commit on average%n", rows, commits.get(),
                    (double) rows / Math.max(1, commits.get()));
            node.stop();
        }
    }

    // ------------------------------------------------------------------ the anchor

    static final class JdbcRig implements Rig {
        private final Connection connection;
        private final PreparedStatement insert;
        private final int batch;
        private final long[] next;

        JdbcRig(String url, int batch) throws SQLException {
            connection = DriverManager.getConnection(url);
            Dialect.H2.prepare(connection);
            insert = connection.prepareStatement(Dialect.H2.insert());
            this.batch = batch;
            this.next = new long[batch];
        }

        /** Row i of a batch belongs to stream "caller-i", as if each caller had one record in it. */
        @Override
        public void round(int perCaller) throws SQLException {
            for (int b = 0; b < perCaller; b++) {
                for (int i = 0; i < batch; i++) {
                    Record r = record("caller-" + i, next[i]++);
                    insert.setString(1, r.getStream());
                    insert.setLong(2, r.getSeq());
                    insert.setString(3, r.getBody());
                    insert.addBatch();
                }
                insert.executeBatch();
                connection.commit();
            }
        }

        @Override
        public void close() throws SQLException {
            connection.close();
        }
    }

}
