package dev.harbor.writer;

import dev.harbor.proto.Committed;
import dev.harbor.proto.Drain;
import dev.harbor.proto.Record;
import dev.harbor.service.ExitReason;
import dev.harbor.service.DeferredReply;
import dev.harbor.service.Message;
import dev.harbor.service.Service;
import dev.harbor.service.ServiceContext;
import dev.harbor.shutdown.OrderedExit;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The reference database writer: stores {@link Record}s in the table {@value Dialect#TABLE} over JDBC
 * (H2 or PostgreSQL), in batches, and answers each one with {@link Committed} only once the database
 * commit that holds it has returned.
 *
 * <p><b>Configuration.</b> In a node's properties: {@code services=dev.harbor.writer.Writer(jdbc:h2:file:./data/harbor)}
 * (H2 settings after {@code ;} are fine: the writer joins its arguments back into one URL), or
 * {@code services=dev.harbor.writer.Writer} with the URL in {@code HARBOR_WRITER_URL}. The rest comes
 * from system properties, else environment variables (see {@link Settings#of}): the global name
 * ({@code HARBOR_WRITER_NAME}, default {@value #WRITER_NAME}), {@code HARBOR_WRITER_USER},
 * {@code HARBOR_WRITER_PASSWORD}, {@code HARBOR_WRITER_RETRY_WINDOW_MS} (30000),
 * {@code HARBOR_WRITER_MAX_BATCH} (1000), {@code HARBOR_WRITER_DRAIN_TIMEOUT_MS} (7000: with the gateway's 5000
 * the default plan fits a 30 s budget). The password is never logged, and {@code password=...} in a URL is masked in every message.
 *
 * <p><b>What callers get.</b> Every {@link Record} call is answered exactly once: {@link Committed}
 * when the record is in the database (stored by this call or an earlier one: {@code (stream, seq)} is
 * the idempotency key, the first body stored stands), or an error that says the record was not
 * stored and why: a malformed record; a send instead of a call; the writer draining; the database
 * failing for longer than the retry window; the writer ending (the runtime answers "gone"). A caller
 * that got an error or no answer in time may send the same record again safely.
 *
 * <p><b>Batching.</b> A record is kept pending and the writer sends itself a flush tick, which queues
 * behind every message already in its mailbox; when the tick comes, everything pending goes to the
 * database in one JDBC batch and one commit. So the busier the writer, the larger its batches, and an
 * idle writer commits a lone record at once: no timer, no added latency. A batch is cut at
 * {@link Settings#maxBatch()} records.
 *
 * <p><b>Database errors.</b> A failed batch is rolled back, its connection dropped, and the batch tried
 * again on a fresh connection (which also recreates a missing table) after a backoff of 50 ms doubling
 * up to 1 s, for at most {@link Settings#retryWindow()} from the first failure. Records that arrive
 * meanwhile join the batch. Past the window, every pending record is failed with an error saying it
 * was NOT committed, logged at ERROR, and the writer goes on: the next records try again.
 *
 * <p><b>Ordered exit.</b> Init registers role {@value OrderedExit#WRITER} with the shutdown
 * coordinator. On {@link Drain} the writer commits everything pending (every record that reached its
 * mailbox before the drain), closes its connection and exits; the exit event is the coordinator's
 * proof. While a drain waits for the database (at most 4/5 of the drain's timeout), new records are
 * answered "writer is draining: not stored"; after the exit the runtime answers them "gone".
 *
 * <p><b>Meters</b> (on the node's {@code /metrics}, tagged {@code writer=<name>}, removed when the writer
 * ends): {@code harbor_writer_records_total{outcome=committed|refused|failed}}, {@code harbor_writer_commit_seconds}
 * (each batch and commit), {@code harbor_writer_pending_records}, {@code harbor_writer_database_errors_total}
 * (failed attempts, each retried).
 *
 * <p><b>Threading.</b> Everything here but {@link #connection} and {@link #closed} is owned by the
 * service's handlers, which the runtime never runs concurrently (and which see each other's writes:
 * the runtime hands its token over through a volatile), so none of it needs a lock. The JDBC
 * connection is used only by handlers; the exit hook ({@link #onEnd}) runs once the service has
 * ended any way (drained, killed, node stopped), on the thread that ended it, possibly while a handler
 * still runs, and closes it, which is why those two fields are volatile. A handler still inside a JDBC
 * call when the service is killed then fails on the closed connection; its callers have already been
 * answered "gone" by the runtime. The retry backoff is a message to itself ({@link ServiceContext#after}).
 */
public final class Writer implements Service {
    /** The global name the writer registers under unless told otherwise. */
    public static final String WRITER_NAME = "writer";
    /** The longest stream name, in UTF-16 chars (the column is {@code VARCHAR(200)}). */
    public static final int MAX_STREAM = 200;
    /** The longest body, in UTF-16 chars (the column is {@code VARCHAR(4096)}). */
    public static final int MAX_BODY = 4096;

    private static final Logger log = LoggerFactory.getLogger(Writer.class);
    private static final long FIRST_BACKOFF_NANOS = TimeUnit.MILLISECONDS.toNanos(50);
    private static final long MAX_BACKOFF_NANOS = TimeUnit.SECONDS.toNanos(1);
    private static final Pattern PASSWORD_IN_URL = Pattern.compile("(?i)(password=)[^;&]*");

    /** What the writer sends itself; private, so no other service can send one. */
    private enum Tick {
        /** Commit what is pending: queued behind the records already in the mailbox. */
        FLUSH,
        /** Try the failed batch again: sent after a backoff. */
        RETRY
    }

    /** A record waiting for its commit, and the caller who waits for the answer. */
    private record Pending(Record record, DeferredReply reply) {
    }

    private final Settings settings;
    private final String where;

    // --- handler-owned (see the class comment) ---
    private List<Pending> pending = new ArrayList<>();
    private Dialect dialect;
    private PreparedStatement insert;
    private long commits;
    /** A FLUSH tick is in the mailbox. */
    private boolean flushQueued;
    /** A RETRY tick is on its way: flushing waits for it. */
    private boolean retryScheduled;
    /** When the current run of failures began (System.nanoTime), valid while {@link #failures} > 0. */
    private long failingSince;
    private int failures;
    private String lastError;
    private boolean draining;
    /** While draining: when to give up on the database (System.nanoTime), or Long.MAX_VALUE. */
    private long drainGiveUpAt = Long.MAX_VALUE;
    private boolean exiting;
    /** Made in init, once the writer has its name and registration; never replaced (the exit hook reads it too). */
    private WriterMeters meters;

    // --- shared with the exit hook ---
    private volatile Connection connection;
    private volatile boolean closed;

    /**
     * A writer on the URL in {@code harbor.writer.url} (system property) or {@code HARBOR_WRITER_URL}
     * (environment): {@code services=dev.harbor.writer.Writer}.
     */
    public Writer() {
        this(Settings.of(Settings.lookup("url").orElseThrow(() -> new IllegalArgumentException("the writer needs a"
                + " database: give it the JDBC URL (services=dev.harbor.writer.Writer(jdbc:h2:file:./data/harbor)), or set"
                + " harbor.writer.url or HARBOR_WRITER_URL"))));
    }

    /** A writer on {@code jdbcUrl}, the other settings from {@link Settings#of}. */
    public Writer(String jdbcUrl) {
        this(Settings.of(jdbcUrl));
    }

    /**
     * A writer on the URL {@code part1;part2}: a node's {@code services} line splits its arguments at
     * {@code ;}, which H2 URLs use for their settings ({@code Writer(jdbc:h2:file:./data/harbor;AUTO_SERVER=TRUE)}),
     * so the writer joins them back.
     */
    public Writer(String part1, String part2) {
        this(part1 + ";" + part2);
    }

    /** A writer on the URL {@code part1;part2;part3}; see {@link #Writer(String, String)}. */
    public Writer(String part1, String part2, String part3) {
        this(part1 + ";" + part2 + ";" + part3);
    }

    /** A writer on the URL {@code part1;part2;part3;part4}; see {@link #Writer(String, String)}. */
    public Writer(String part1, String part2, String part3, String part4) {
        this(part1 + ";" + part2 + ";" + part3 + ";" + part4);
    }

    /** A writer with {@code settings} (for code that launches it: {@code node.launch(() -> new Writer(settings))}). */
    public Writer(Settings settings) {
        this.settings = Objects.requireNonNull(settings, "settings");
        this.where = mask(settings.jdbcUrl());
    }

    @Override
    public void init(ServiceContext ctx) throws Exception {
        try {
            connect();
        } catch (SQLException e) {
            throw new IllegalStateException("writer: cannot open the database " + where + ": " + e.getMessage()
                    + ". Check the JDBC URL (jdbc:h2:file:./data/harbor, jdbc:postgresql://host:5432/db), that the"
                    + " database is up, and the credentials (harbor.writer.user/password or HARBOR_WRITER_USER/PASSWORD)", e);
        }
        try {
            ctx.register(settings.name());
            OrderedExit.register(ctx, OrderedExit.WRITER, settings.drainTimeout());
        } catch (RuntimeException e) {
            disconnect();
            throw e;
        }
        meters = new WriterMeters(ctx.node().lookup(MeterRegistry.class).orElseGet(CompositeMeterRegistry::new), settings.name());
        log.info("writer '{}' stores records in {} on {} ({}, batches of up to {}, retry window {} ms)", settings.name(),
                Dialect.TABLE, where, dialect, settings.maxBatch(), settings.retryWindow().toMillis());
    }

    /**
     * However the writer ends (drained, killed, its node stopped, its init failed): removes its meters
     * and closes its connection, which rolls back whatever was not committed. On the thread that ended
     * it; init's fields are visible here, and {@link #connection} and {@link #closed} are volatile.
     */
    @Override
    public void onEnd(ServiceContext ctx, ExitReason reason) {
        WriterMeters mine = meters;
        if (mine != null) { // null if init failed before making them
            mine.remove();
        }
        closed = true;
        close(connection);
    }

    @Override
    public Object receive(ServiceContext ctx, Message msg) {
        Object p = msg.payload();
        if (p instanceof Record r) {
            record(ctx, msg, r);
        } else if (p == Tick.FLUSH) {
            flushQueued = false;
            if (!retryScheduled) {
                flush(ctx);
            }
        } else if (p == Tick.RETRY) {
            retryScheduled = false;
            flush(ctx);
        } else if (p instanceof Drain d) {
            drain(ctx, d);
        } else {
            throw new IllegalArgumentException("the writer stores harbor.v1.Record calls and does not understand "
                    + (p == null ? "null" : "a " + p.getClass().getName()));
        }
        meters.pending(pending.size());
        return null;
    }

    private void record(ServiceContext ctx, Message msg, Record r) {
        if (!msg.isCall()) {
            meters.refused();
            throw new IllegalArgumentException("record " + key(r) + " came as a send, so nobody could be told whether"
                    + " it is stored: not stored. Call the writer with it; the reply is Committed");
        }
        DeferredReply reply = msg.defer();
        String bad = problem(r);
        if (bad != null) {
            meters.refused();
            reply.fail("record " + key(r) + " not stored: " + bad);
            return;
        }
        if (draining) {
            meters.refused();
            reply.fail("writer is draining: not stored (record " + key(r) + "); send it to the writer that takes over");
            return;
        }
        pending.add(new Pending(r, reply));
        if (retryScheduled) {
            return; // it joins the batch being retried
        }
        if (pending.size() >= settings.maxBatch()) {
            flush(ctx);
        } else if (!flushQueued) {
            flushQueued = true;
            ctx.send(ctx.self(), Tick.FLUSH);
        }
    }

    /** What is wrong with {@code r}, or null. */
    static String problem(Record r) {
        String stream = r.getStream();
        if (stream.isEmpty() || stream.length() > MAX_STREAM) {
            return "the stream must be 1 to " + MAX_STREAM + " characters, got " + stream.length();
        }
        if (r.getSeq() < 0) {
            return "the seq must be 0 or more, got " + r.getSeq();
        }
        if (r.getBody().length() > MAX_BODY) {
            return "the body must be at most " + MAX_BODY + " characters, got " + r.getBody().length();
        }
        String text = unstorable(stream);
        if (text != null) {
            return "the stream " + text;
        }
        text = unstorable(r.getBody());
        return text == null ? null : "the body " + text;
    }

    /** Why a database could not store {@code s} as sent (NUL, which PostgreSQL refuses; a broken surrogate pair), or null. */
    private static String unstorable(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == 0) {
                return "contains a NUL character at " + i;
            }
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                return "contains a lone UTF-16 surrogate at " + i;
            }
        }
        return null;
    }

    private static String key(Record r) {
        String s = r.getStream();
        return "(" + (s.length() > 40 ? s.substring(0, 40) + "..." : s) + ", " + r.getSeq() + ")";
    }

    // ------------------------------------------------------------------ committing

    /** Commits everything pending, a batch at a time; on a failure, schedules a retry or gives up. */
    private void flush(ServiceContext ctx) {
        while (!pending.isEmpty()) {
            List<Pending> batch = pending.subList(0, Math.min(pending.size(), settings.maxBatch()));
            long commit;
            long started = System.nanoTime();
            try {
                commit = write(batch);
            } catch (SQLException | RuntimeException e) {
                meters.databaseError();
                failed(ctx, batch.size(), e);
                return;
            }
            meters.committed(batch.size(), System.nanoTime() - started);
            Committed ack = Committed.newBuilder().setCommit(commit).build();
            for (Pending p : batch) {
                p.reply().reply(ack);
            }
            batch.clear(); // removes them from pending
            if (failures > 0) {
                log.info("writer '{}': the database {} took commits again after {} failed attempt(s) over {} ms",
                        settings.name(), where, failures, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - failingSince));
                failures = 0;
            }
        }
        if (draining) {
            finishDrain(ctx);
        }
    }

    /** One JDBC batch and one commit; returns the commit's number. Only a normal return means committed. */
    private long write(List<Pending> batch) throws SQLException {
        if (connection == null) {
            connect();
        }
        PreparedStatement ps = insert;
        for (Pending p : batch) {
            Record r = p.record();
            ps.setString(1, r.getStream());
            ps.setLong(2, r.getSeq());
            ps.setString(3, r.getBody());
            ps.addBatch();
        }
        ps.executeBatch();
        connection.commit();
        return ++commits;
    }

    private void failed(ServiceContext ctx, int batchSize, Exception e) {
        long now = System.nanoTime();
        lastError = describe(e);
        rollback();
        disconnect(); // the retry starts on a fresh connection, which also recreates a missing table
        if (failures++ == 0) {
            failingSince = now;
            log.warn("writer '{}': could not commit {} record(s) to {}: {}; retrying for up to {} ms", settings.name(),
                    batchSize, where, lastError, settings.retryWindow().toMillis());
        } else {
            log.debug("writer '{}': attempt {} failed: {}", settings.name(), failures, lastError);
        }
        long giveUpAt = Math.min(failingSince + settings.retryWindow().toNanos(), drainGiveUpAt);
        if (now - giveUpAt >= 0) {
            giveUp(ctx, now);
            return;
        }
        long backoff = Math.min(MAX_BACKOFF_NANOS, FIRST_BACKOFF_NANOS << Math.min(failures - 1, 10));
        long delay = Math.min(backoff, giveUpAt - now);
        retryScheduled = true;
        // The retry itself runs in a handler, when the tick comes back; dropped if the writer has ended.
        ctx.after(Duration.ofNanos(delay), Tick.RETRY);
    }

    /** Fails every pending record loudly: none of them is committed. */
    private void giveUp(ServiceContext ctx, long now) {
        long ms = TimeUnit.NANOSECONDS.toMillis(now - failingSince);
        String why = "NOT committed, not stored: the database " + where + " failed every attempt for " + ms + " ms ("
                + failures + " attempts; last error: " + lastError + "). Send the record again later: (stream, seq)"
                + " makes a repeat harmless";
        log.error("writer '{}': gave up on {} record(s): {}", settings.name(), pending.size(), why);
        meters.failed(pending.size());
        for (Pending p : pending) {
            p.reply().fail("record " + key(p.record()) + " " + why);
        }
        pending = new ArrayList<>();
        failures = 0;
        if (draining) {
            finishDrain(ctx);
        }
    }

    private static String describe(Exception e) {
        String m = e.getMessage();
        String s = e instanceof SQLException sql && sql.getSQLState() != null ? " [SQLState " + sql.getSQLState() + "]" : "";
        return e.getClass().getSimpleName() + s + ": " + (m == null ? "" : mask(m.strip()));
    }

    // ------------------------------------------------------------------ draining

    /** The longest drain timeout taken as given; a longer one (up to a uint64's 2^64-1 ms) counts as this. */
    private static final long MAX_DRAIN_MS = TimeUnit.DAYS.toMillis(365);

    private void drain(ServiceContext ctx, Drain d) {
        if (draining) {
            return; // the coordinator may send its Drain again; one is enough
        }
        draining = true;
        if (d.getTimeoutMs() != 0) {
            // Give up on the database a little before the coordinator kills the writer, so that callers
            // hear why their records were not stored rather than just "gone". The timeout is a uint64:
            // read unsigned, and bounded to a year so that the arithmetic cannot overflow.
            long ms = Long.compareUnsigned(d.getTimeoutMs(), MAX_DRAIN_MS) > 0 ? MAX_DRAIN_MS : d.getTimeoutMs();
            drainGiveUpAt = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(ms) * 4 / 5;
        }
        log.info("writer '{}': draining, {} record(s) to commit", settings.name(), pending.size());
        if (!retryScheduled) {
            flush(ctx); // ends with finishDrain once nothing is pending
        }
    }

    private void finishDrain(ServiceContext ctx) {
        if (exiting) {
            return;
        }
        exiting = true;
        disconnect();
        log.info("writer '{}': drained after {} commit(s); exiting", settings.name(), commits);
        ctx.exit();
    }

    // ------------------------------------------------------------------ the connection

    /** Opens and readies a connection, and prepares the insert. Handlers and init only. */
    private void connect() throws SQLException {
        Properties props = new Properties();
        if (settings.user() != null) {
            props.setProperty("user", settings.user());
        }
        if (settings.password() != null) {
            props.setProperty("password", settings.password());
        }
        if (settings.jdbcUrl().startsWith("jdbc:postgresql:")) {
            // Bounded waits on a dead or frozen server, so that a retry comes; the URL may override them.
            props.setProperty("connectTimeout", "5");
            props.setProperty("socketTimeout", "10");
        }
        Connection c = DriverManager.getConnection(settings.jdbcUrl(), props);
        try {
            Dialect d = Dialect.of(c);
            d.prepare(c);
            insert = c.prepareStatement(d.insert());
            dialect = d;
        } catch (SQLException | RuntimeException e) {
            c.close();
            throw e;
        }
        connection = c;
        if (closed) {
            disconnect(); // the service ended while this handler connected, after the exit hook had run
            throw new SQLException("the writer has ended");
        }
    }

    /** Rolls back what a failed batch left open, so that closing the connection cannot commit it. */
    private void rollback() {
        Connection c = connection;
        if (c == null) {
            return;
        }
        try {
            c.rollback();
        } catch (SQLException e) {
            log.debug("writer '{}': rollback on {} failed (the connection is dropped anyway): {}", settings.name(), where,
                    describe(e));
        }
    }

    /** Drops the connection, if any, closing it. Handlers and init only. */
    private void disconnect() {
        Connection c = connection;
        connection = null;
        insert = null;
        close(c);
    }

    /** Closes {@code c} (which rolls back what it has not committed). Any thread: handlers, the exit hook. */
    private void close(Connection c) {
        if (c == null) {
            return;
        }
        try {
            c.close();
        } catch (SQLException e) {
            log.debug("writer '{}': closing the connection to {} failed: {}", settings.name(), where, describe(e));
        }
    }

    /** {@code url} with any {@code password=...} masked, for messages. */
    static String mask(String url) {
        return PASSWORD_IN_URL.matcher(url).replaceAll("$1***");
    }

    @Override
    public String toString() {
        return "Writer(" + settings + ")";
    }

    /**
     * A writer's settings.
     *
     * @param jdbcUrl the database: {@code jdbc:h2:file:./data/harbor}, {@code jdbc:postgresql://host:5432/db}
     * @param user the database user, or null (the URL's, or the driver's default)
     * @param password the user's password, or null; never logged
     * @param name the global name to register under
     * @param maxBatch the most records in one commit
     * @param retryWindow how long a failing database is retried before pending records are failed
     * @param drainTimeout the drain timeout registered with the shutdown coordinator
     */
    public record Settings(String jdbcUrl, String user, String password, String name, int maxBatch, Duration retryWindow,
            Duration drainTimeout) {

        public Settings {
            Objects.requireNonNull(jdbcUrl, "jdbcUrl");
            Objects.requireNonNull(name, "name");
            if (!jdbcUrl.startsWith("jdbc:")) {
                throw new IllegalArgumentException("'" + mask(jdbcUrl) + "' is not a JDBC URL: use jdbc:h2:file:./data/harbor"
                        + " or jdbc:postgresql://host:5432/db");
            }
            if (maxBatch < 1) {
                throw new IllegalArgumentException("the batch size must be at least 1, got " + maxBatch);
            }
            if (retryWindow.isNegative()) {
                throw new IllegalArgumentException("the retry window must not be negative, got " + retryWindow);
            }
        }

        /**
         * Settings for {@code jdbcUrl}, the rest from system properties ({@code harbor.writer.name},
         * {@code .user}, {@code .password}, {@code .max-batch}, {@code .retry-window-ms},
         * {@code .drain-timeout-ms}), else from the environment ({@code HARBOR_WRITER_NAME},
         * {@code HARBOR_WRITER_USER}, {@code HARBOR_WRITER_PASSWORD}, {@code HARBOR_WRITER_MAX_BATCH}, ...),
         * else the defaults: name {@value #WRITER_NAME}, no user or password (the URL's, or the driver's
         * default), batches of at most 1000 records, a 30 s retry window, a 7 s drain timeout.
         */
        public static Settings of(String jdbcUrl) {
            return new Settings(jdbcUrl, lookup("user").orElse(null), lookup("password").orElse(null),
                    lookup("name").orElse(WRITER_NAME), number("max-batch", 1000),
                    Duration.ofMillis(number("retry-window-ms", 30_000)), Duration.ofMillis(number("drain-timeout-ms", 7_000)));
        }

        /** The system property {@code harbor.writer.<key>}, else the environment's {@code HARBOR_WRITER_<KEY>}. */
        static java.util.Optional<String> lookup(String key) {
            String v = System.getProperty("harbor.writer." + key);
            if (v == null) {
                v = System.getenv("HARBOR_WRITER_" + key.toUpperCase(java.util.Locale.ROOT).replace('-', '_'));
            }
            return v == null || v.isBlank() ? java.util.Optional.empty() : java.util.Optional.of(v.strip());
        }

        private static int number(String key, int otherwise) {
            String v = lookup(key).orElse(null);
            if (v == null) {
                return otherwise;
            }
            try {
                return Integer.parseInt(v);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("harbor.writer." + key + " must be a whole number, got '" + v + "'", e);
            }
        }

        public Settings withName(String name) {
            return new Settings(jdbcUrl, user, password, name, maxBatch, retryWindow, drainTimeout);
        }

        public Settings withMaxBatch(int maxBatch) {
            return new Settings(jdbcUrl, user, password, name, maxBatch, retryWindow, drainTimeout);
        }

        public Settings withRetryWindow(Duration retryWindow) {
            return new Settings(jdbcUrl, user, password, name, maxBatch, retryWindow, drainTimeout);
        }

        public Settings withCredentials(String user, String password) {
            return new Settings(jdbcUrl, user, password, name, maxBatch, retryWindow, drainTimeout);
        }

        /** Without the password. */
        @Override
        public String toString() {
            return "url=" + mask(jdbcUrl) + ", user=" + user + ", password=" + (password == null ? "none" : "***")
                    + ", name=" + name + ", maxBatch=" + maxBatch + ", retryWindow=" + retryWindow + ", drainTimeout=" + drainTimeout;
        }
    }
}
