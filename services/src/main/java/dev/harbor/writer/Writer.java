package dev.harbor.writer;

import dev.harbor.proto.Committed;
import dev.harbor.proto.Drain;
import dev.harbor.proto.Record;
import dev.harbor.service.ExitReason;
import dev.harbor.service.DeferredReply;
import dev.harbor.service.Handle;
import dev.harbor.service.Message;
import dev.harbor.service.NodeView;
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
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
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
 * <p><b>Batching.</b> The writer has a commit thread of its own, which alone talks to the database.
 * The handler checks a record and puts it at once on the commit thread's queue, and goes on taking
 * messages; so while the database works on one batch, the next one gathers. The commit thread, when
 * free, takes everything queued into one batch and runs it as a JDBC batch; before it commits it looks
 * at the queue again, and if more records came meanwhile it adds them to the same transaction (another
 * JDBC batch) and looks again; it commits once a look finds the queue empty, or the batch holds
 * {@link Settings#maxBatch()} records. So the busier the writer, the larger its batches, and an idle
 * writer commits a lone record at once: no timer, no added latency. One transaction at a time is in
 * flight, and records are committed in the order they reached the handler. When the commit has
 * returned, the commit thread sends the batch back to the writer as a private message, and the handler
 * answers its callers with {@link Committed}: an acknowledgement never comes before the commit that
 * holds the record has returned.
 *
 * <p>Why the batch grows inside an open transaction rather than being cut when the commit thread starts
 * it (the simpler pipeline, "commit one batch while the next gathers"): callers wait for their answer
 * before they send again, so with a batch cut at its start, {@code n} callers split into two groups
 * that take turns, and every commit holds about {@code n/2} records; a commit's fixed cost (on H2 with
 * {@code WRITE_DELAY 0}, a file write) then counts twice per caller round. Adding the records that
 * arrive while the statements run keeps the database busy and lets a commit hold nearly everyone who
 * waits. And the commit thread takes its next batch from the queue itself, with no round trip through
 * the writer's mailbox between two commits (two thread wake-ups, tens of microseconds each).
 *
 * <p><b>Database errors.</b> A failed batch is rolled back, its connection dropped, and the batch tried
 * again on a fresh connection (which also recreates a missing table) after a backoff of 50 ms doubling
 * up to 1 s, for at most {@link Settings#retryWindow()} from the first failure; all on the commit
 * thread, while the handler goes on queueing. Records that arrive meanwhile join the batch when it is
 * tried again (up to {@link Settings#maxBatch()}); the rest wait behind it. Past the window, the batch
 * and every record queued behind it are failed with an error saying they were NOT committed, logged at
 * ERROR, and the writer goes on: the next records try again.
 *
 * <p><b>Ordered exit.</b> Init registers role {@value OrderedExit#WRITER} with the shutdown
 * coordinator. On {@link Drain} the handler puts a drain mark on the commit thread's queue, behind
 * every record that reached the writer's mailbox before the drain; the commit thread commits (or, past
 * the give-up time, fails) everything ahead of the mark, closes the connection, tells the writer, and
 * ends; the writer then exits, and the exit event is the coordinator's proof. While a drain waits for the
 * database (retrying at most 4/5 of the drain's timeout), new records are answered "writer is draining:
 * not stored"; after the exit the runtime answers them "gone".
 *
 * <p><b>Meters</b> (on the node's {@code /metrics}, tagged {@code writer=<name>}, removed when the writer
 * ends): {@code harbor_writer_records_total{outcome=committed|refused|failed}}, {@code harbor_writer_commit_seconds}
 * (each batch, from its first statement to its commit's return), {@code harbor_writer_pending_records}
 * (records handed to the commit thread and not answered yet), {@code harbor_writer_database_errors_total}
 * (failed attempts, each retried).
 *
 * <p><b>Threading.</b> Three kinds of thread touch a writer:
 * <ul>
 *   <li><i>The handlers</i> (and init), which the runtime never runs concurrently and which see each
 *       other's writes, own the fields marked handler-owned: no locks. They answer every caller: the
 *       refusals at once, the batches when the commit thread sends them back ({@code Done},
 *       {@code GaveUp}). {@link DeferredReply} may be completed from any thread, but answering on the
 *       handler keeps the commit thread's time for the database, and keeps {@link #inFlight} and the
 *       record meters on one thread.</li>
 *   <li><i>The commit thread</i> ({@code harbor-writer-<name>}, a daemon platform thread, started last in
 *       init, so that it sees everything init set) owns the fields marked commit-thread-owned: the JDBC
 *       connection, its statement, the commit count, the failure bookkeeping. Init opens the connection
 *       (so that a database that cannot be opened fails the launch), then starts the thread, and never
 *       touches the connection again; from then on only the commit thread uses it, closes it and opens
 *       new ones. Handlers reach it only through {@link #queue} (a {@link LinkedBlockingQueue}: records,
 *       and the drain mark); it reaches the handlers only through messages sent to the writer
 *       ({@link NodeView#send}, as from outside any service, since the context's own send belongs to the
 *       handlers). It reads {@link #drainGiveUpAt}, which the handler sets on a drain, and increments
 *       the database-errors meter (Micrometer's meters are thread-safe).</li>
 *   <li><i>The exit hook</i> ({@link #onEnd}) runs once the service has ended any way (drained, killed,
 *       node stopped), on the thread that ended it, possibly while a handler or the commit thread still
 *       runs. It sets {@link #closed}, puts a stop mark on the queue, wakes the commit thread out of a
 *       backoff, and waits for it to close the connection and end, at most {@link #CLOSE_WAIT}: an idle
 *       writer's connection is closed when the hook returns, as before, and a commit stuck in the
 *       database cannot hang a kill or a node's stop. The commit thread then ends as soon as its JDBC
 *       call returns, rolling back instead of committing if the writer ended before the commit
 *       began (it looks at {@link #closed} just before the commit: an end that comes during the commit
 *       itself leaves the batch committed, its callers told "gone"). Callers still waiting have been
 *       answered "gone" by the runtime; what the commit thread would send back after that is not sent
 *       (or, if the end comes just as it sends, dropped by the runtime as a dead letter).</li>
 * </ul>
 * The retry backoff is a timed park on the commit thread; the hook's unpark cuts it short.
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
    /** How long the exit hook waits for the commit thread to close the connection and end. */
    private static final long CLOSE_WAIT = TimeUnit.SECONDS.toMillis(1);
    private static final Pattern PASSWORD_IN_URL = Pattern.compile("(?i)(password=)[^;&]*");

    /** Marks on the commit thread's queue, besides records. */
    private enum Mark {
        /** Put by the handler on a drain, behind every record it queued before: commit those, close, report {@link Drained}. */
        DRAIN,
        /** Put by the exit hook: the writer has ended ({@link #closed} is set); close and end. */
        STOP
    }

    /** A record waiting for its commit, and the caller who waits for the answer. */
    private record Pending(Record record, DeferredReply reply) {
    }

    /** Commit thread to handler: {@code batch} is committed in commit number {@code commit}, which took {@code nanos}. */
    private record Done(List<Pending> batch, long commit, long nanos) {
    }

    /** Commit thread to handler: {@code batch} is NOT committed, the database failed for too long; {@code why} says so. */
    private record GaveUp(List<Pending> batch, String why) {
    }

    /** Commit thread to handler: everything before the drain mark is answered for, the connection closed; exit now. */
    private record Drained(long commits) {
    }

    private final Settings settings;
    private final String where;
    /** Records (and marks) from the handlers to the commit thread, in order. Thread-safe. */
    private final LinkedBlockingQueue<Object> queue = new LinkedBlockingQueue<>();

    // --- set by init before the commit thread starts; read-only after (every thread sees them) ---
    private ServiceContext context;
    private NodeView node;
    private Handle self;
    /** Never replaced; the handlers, the commit thread (database errors) and the exit hook use it. */
    private WriterMeters meters;
    /** The commit thread; null until init starts it (and for good if init fails before). */
    private Thread committer;

    // --- handler-owned (see the class comment) ---
    /** Records put on the queue and not answered yet: the pending-records meter. */
    private int inFlight;
    private boolean draining;

    // --- commit-thread-owned (init opens the connection before the thread starts, then leaves it) ---
    private Connection connection;
    private PreparedStatement insert;
    private Dialect dialect;
    private long commits;
    /** When the current run of failures began (System.nanoTime), valid while {@link #failures} > 0. */
    private long failingSince;
    private int failures;
    private String lastError;
    /** A mark taken off the queue while filling a batch: handled once that batch is answered for. */
    private Mark held;

    // --- shared ---
    /** Set by the exit hook: the writer has ended. Read by the commit thread. */
    private volatile boolean closed;
    /** While draining: when to give up on the database (System.nanoTime), or Long.MAX_VALUE. Set by the handler, read by the commit thread. */
    private volatile long drainGiveUpAt = Long.MAX_VALUE;

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

    /**
     * Opens the connection (on this, the init thread: a database that cannot be opened fails the
     * launch), registers the name and the role, makes the meters, and starts the commit thread last, which
     * owns the connection from then on.
     */
    @Override
    public void init(ServiceContext ctx) throws Exception {
        context = ctx;
        node = ctx.node();
        self = ctx.self();
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
            meters = new WriterMeters(ctx.node().lookup(MeterRegistry.class).orElseGet(CompositeMeterRegistry::new), settings.name());
            log.info("writer '{}' stores records in {} on {} ({}, batches of up to {}, retry window {} ms)", settings.name(),
                    Dialect.TABLE, where, dialect, settings.maxBatch(), settings.retryWindow().toMillis());
            // Started last: Thread.start makes every write above visible to it, the connection included.
            committer = Thread.ofPlatform().name("harbor-writer-" + settings.name()).daemon(true).start(this::commitLoop);
        } catch (RuntimeException | Error e) {
            disconnect(); // no commit thread: the connection is still this thread's
            throw e;
        }
    }

    /**
     * However the writer ends (drained, killed, its node stopped, its init failed): removes its meters,
     * and has the commit thread close the connection (which rolls back whatever was not committed) and
     * end, waiting for that at most {@link #CLOSE_WAIT}. On the thread that ended the writer; init's
     * fields are visible here (see the class comment's Threading).
     */
    @Override
    public void onEnd(ServiceContext ctx, ExitReason reason) {
        WriterMeters mine = meters;
        if (mine != null) { // null if init failed before making them
            mine.remove();
        }
        closed = true;
        Thread t = committer;
        if (t == null) {
            return; // init failed before starting it, and closed the connection it had opened
        }
        queue.add(Mark.STOP); // wakes it if it waits for work
        LockSupport.unpark(t); // cuts a retry backoff short
        if (t == Thread.currentThread()) {
            return; // the commit thread itself ended the writer (see commitLoop): it closes the connection next
        }
        try {
            t.join(CLOSE_WAIT);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (t.isAlive()) {
            log.warn("writer '{}' ended while its commit thread was inside the database {}: that call is not committed"
                    + " unless its commit had begun; the thread closes the connection when the call returns", settings.name(), where);
        }
    }

    @Override
    public Object receive(ServiceContext ctx, Message msg) {
        Object p = msg.payload();
        if (p instanceof Record r) {
            record(msg, r);
        } else if (p instanceof Done d) {
            done(d);
        } else if (p instanceof GaveUp g) {
            gaveUp(g);
        } else if (p instanceof Drained d) {
            log.info("writer '{}': drained after {} commit(s); exiting", settings.name(), d.commits());
            ctx.exit();
        } else if (p instanceof Drain d) {
            drain(d);
        } else {
            throw new IllegalArgumentException("the writer stores harbor.v1.Record calls and does not understand "
                    + (p == null ? "null" : "a " + p.getClass().getName()));
        }
        meters.pending(inFlight);
        return null;
    }

    private void record(Message msg, Record r) {
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
        inFlight++;
        queue.add(new Pending(r, reply)); // the commit thread takes it with the next batch, or joins it to the open one
    }

    /** The commit of {@code d}'s batch has returned: only now are its callers told. */
    private void done(Done d) {
        meters.committed(d.batch().size(), d.nanos());
        Committed ack = Committed.newBuilder().setCommit(d.commit()).build();
        for (Pending p : d.batch()) {
            p.reply().reply(ack);
        }
        inFlight -= d.batch().size();
    }

    private void gaveUp(GaveUp g) {
        meters.failed(g.batch().size());
        for (Pending p : g.batch()) {
            p.reply().fail("record " + key(p.record()) + " " + g.why());
        }
        inFlight -= g.batch().size();
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

    // ------------------------------------------------------------------ the commit thread

    /**
     * The commit thread: takes a batch off the queue when there is one, commits it, answers for it,
     * until a drain mark or the writer's end; then closes the connection. Should anything escape (a bug,
     * an Error), it ends the writer, so that every waiting caller is answered ("gone") rather than left
     * waiting for a thread that is no more.
     */
    private void commitLoop() {
        try {
            while (!closed) {
                Object next = held != null ? held : queue.take();
                held = null;
                if (next instanceof Pending first) {
                    commit(first);
                } else if (next == Mark.DRAIN) {
                    disconnect();
                    post(new Drained(commits));
                    return;
                }
                // Mark.STOP: closed is set, the loop ends.
            }
        } catch (InterruptedException e) {
            log.warn("writer '{}': its commit thread was interrupted; ending the writer", settings.name());
            context.kill(self);
        } catch (Throwable t) {
            log.error("writer '{}': its commit thread failed; ending the writer (waiting callers are answered \"gone\")",
                    settings.name(), t);
            context.kill(self);
        } finally {
            disconnect();
        }
    }

    /** Commits {@code first} and what joins it, trying again on failures; ends with it answered for, or the writer ended. */
    private void commit(Pending first) {
        List<Pending> batch = new ArrayList<>();
        batch.add(first);
        for (;;) {
            long started = System.nanoTime();
            long commit;
            try {
                commit = write(batch);
            } catch (SQLException | RuntimeException e) {
                meters.databaseError();
                if (failed(batch, e)) {
                    continue;
                }
                return;
            }
            if (commit < 0) {
                return; // the writer ended before the commit: rolled back, and nobody waits for an answer
            }
            if (failures > 0) {
                log.info("writer '{}': the database {} took commits again after {} failed attempt(s) over {} ms",
                        settings.name(), where, failures, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - failingSince));
                failures = 0;
            }
            post(new Done(batch, commit, System.nanoTime() - started));
            return;
        }
    }

    /**
     * Runs {@code batch} and whatever joins it from the queue (up to the cap) in one transaction, and
     * commits it. Returns the commit's number; only a normal return with a number means committed. Returns
     * -1, rolled back, if the writer ended before the commit began.
     */
    private long write(List<Pending> batch) throws SQLException {
        if (connection == null) {
            connect();
        }
        int executed = 0; // a retry runs the whole batch again on its fresh connection
        while (!closed && (fill(batch) || executed < batch.size())) {
            PreparedStatement ps = insert;
            for (Pending p : batch.subList(executed, batch.size())) {
                Record r = p.record();
                ps.setString(1, r.getStream());
                ps.setLong(2, r.getSeq());
                ps.setString(3, r.getBody());
                ps.addBatch();
            }
            ps.executeBatch();
            executed = batch.size();
        }
        if (closed) {
            rollback();
            return -1;
        }
        connection.commit();
        return ++commits;
    }

    /**
     * Moves the records queued now onto {@code batch}, up to the cap, without waiting; stops at a mark,
     * which it keeps in {@link #held}. Returns whether it added any.
     */
    private boolean fill(List<Pending> batch) {
        int before = batch.size();
        while (held == null && batch.size() < settings.maxBatch()) {
            Object o = queue.poll();
            if (o == null) {
                break;
            }
            if (o instanceof Pending p) {
                batch.add(p);
            } else {
                held = (Mark) o;
            }
        }
        return batch.size() > before;
    }

    /**
     * A failed attempt: rolls back, drops the connection, and either waits out the backoff (true: try
     * again) or gives up (false; {@link GaveUp} sent). False too if the writer ends meanwhile.
     */
    private boolean failed(List<Pending> batch, Exception e) {
        long now = System.nanoTime();
        lastError = describe(e);
        rollback();
        disconnect(); // the retry starts on a fresh connection, which also recreates a missing table
        if (failures++ == 0) {
            failingSince = now;
            log.warn("writer '{}': could not commit {} record(s) to {}: {}; retrying for up to {} ms", settings.name(),
                    batch.size(), where, lastError, settings.retryWindow().toMillis());
        } else {
            log.debug("writer '{}': attempt {} failed: {}", settings.name(), failures, lastError);
        }
        long giveUpAt = Math.min(failingSince + settings.retryWindow().toNanos(), drainGiveUpAt);
        if (now - giveUpAt >= 0) {
            giveUp(batch, now);
            return false;
        }
        long backoff = Math.min(MAX_BACKOFF_NANOS, FIRST_BACKOFF_NANOS << Math.min(failures - 1, 10));
        long retryAt = now + Math.min(backoff, giveUpAt - now);
        for (long left; !closed && (left = retryAt - System.nanoTime()) > 0; ) {
            LockSupport.parkNanos(this, left); // the exit hook unparks it
        }
        return !closed;
    }

    /** Fails the batch and every record queued behind it (up to a mark) loudly: none of them is committed. */
    private void giveUp(List<Pending> batch, long now) {
        List<Pending> lost = new ArrayList<>(batch);
        if (held == null) {
            for (Object o; (o = queue.poll()) != null; ) {
                if (o instanceof Pending p) {
                    lost.add(p);
                } else {
                    held = (Mark) o;
                    break;
                }
            }
        }
        long ms = TimeUnit.NANOSECONDS.toMillis(now - failingSince);
        String why = "NOT committed, not stored: the database " + where + " failed every attempt for " + ms + " ms ("
                + failures + " attempts; last error: " + lastError + "). Send the record again later: (stream, seq)"
                + " makes a repeat harmless";
        log.error("writer '{}': gave up on {} record(s): {}", settings.name(), lost.size(), why);
        failures = 0;
        post(new GaveUp(lost, why));
    }

    /** Sends {@code m} to the writer's handler, unless the writer has ended (its callers have been answered "gone"). */
    private void post(Object m) {
        if (!closed) {
            node.send(self, m);
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

    /** The handler: refuse new records from now on, and queue the drain mark behind every record queued so far. */
    private void drain(Drain d) {
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
        log.info("writer '{}': draining, {} record(s) to commit", settings.name(), inFlight);
        queue.add(Mark.DRAIN); // the commit thread answers Drained once everything ahead of it is answered for
    }

    // ------------------------------------------------------------------ the connection

    /** Opens and readies a connection, and prepares the insert. Init (before the commit thread starts), then the commit thread only. */
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
    }

    /** Rolls back what a failed or abandoned batch left open, so that closing the connection cannot commit it. Commit thread only. */
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

    /** Drops the connection, if any, closing it (which rolls back what it has not committed). Init if it fails, else the commit thread only. */
    private void disconnect() {
        Connection c = connection;
        connection = null;
        insert = null;
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
