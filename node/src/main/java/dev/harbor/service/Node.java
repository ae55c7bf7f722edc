package dev.harbor.service;

import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A harbor node: hosts services, routes their messages, numbers their exits.
 *
 * <p>Its public methods are the API of whoever runs a node: an embedder, the node process, a test.
 * Start it, launch and end services, send and call from outside any service, look up names, watch
 * exits, hand the services what the host provides, stop it. The hooks that the runtime's other parts
 * need (the cluster transport's attach, deliveries and new lives; the metrics' counters and call
 * timer) are not here: they are package-private, reached through {@link InternalNode}, which is not an
 * API; the {@link Monitor}, part of the node, reads the services still starting or ending directly. A service sees its node through the
 * narrower {@link NodeView} of {@link ServiceContext#node()}, which cannot stop, abort or close it.
 *
 * <p>Lifecycle: {@link #builder()}{@code .id(n).build()} starts the node and its monitor service;
 * {@link #stop()} ends every service ({@code NODE_STOPPED}), then the monitor once it has seen every
 * exit event, then shuts its {@link Scheduler} down (if a transport is attached, once that has closed:
 * see {@link InternalNode#transportClosed}). {@link #abort()} ends every service but the monitor and
 * leaves the node running.
 *
 * <p>Thread-safety: every method may be called from any thread. The node's own state is a table of
 * live services and a table of names (both concurrent maps; names change under one lock), the
 * {@link ExitLog}, and a {@link Scheduler} (by default one timer thread) for call timeouts,
 * {@link ServiceContext#after} and the attached transport's link timer. Service code runs on virtual
 * threads.
 */
public final class Node implements NodeView, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Node.class);
    /** 2026-01-01T00:00:00Z: local ids are (milliseconds since then) shifted left by 22, plus a counter. */
    private static final long ID_EPOCH_MS = 1_767_225_600_000L;
    private static final int ID_SHIFT = 22;
    /** How long a stop waits for the monitor to handle every exit event (thousands, on a big node). */
    private static final Duration STOP_WAIT = Duration.ofSeconds(5);
    /**
     * How long a stop waits for handlers still running after their service ended. Such a handler can
     * no longer answer anyone (its callers had their error replies); the wait only lets a step it is in
     * the middle of (a write, a JDBC statement) finish before the process exits. A handler still
     * running after that is stuck (sleeping, blocked on I/O): it is left to the process exit, and
     * logged. One second, so a stuck handler costs a stopping node little of the coordinator's node step.
     */
    static final Duration STUCK_HANDLER_WAIT = Duration.ofSeconds(1);

    private static final int RUNNING = 0;
    private static final int STOPPING = 1;
    private static final int STOPPED = 2;

    private final int id;
    /** The first local id of the current life: written by {@link #newLife} (the transport's new-life thread), read anywhere. */
    private volatile long firstId;
    private final AtomicLong nextId;
    private final Clock clock;
    private final ConcurrentHashMap<Long, ServiceCell> cells = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Handle> names = new ConcurrentHashMap<>();
    private final Object nameLock = new Object();
    private final ExitLog exits;
    /** Call timeouts and {@link ServiceContext#after}: the builder's, else one daemon thread; shut down by {@link #stop}. */
    private final Scheduler scheduler;
    private final ThreadFactory runners = Thread.ofVirtual().factory();
    private final AtomicInteger activeRunners = new AtomicInteger();
    private final LongAdder deadLetters = new LongAdder();
    /** Traffic counts of services that have ended (added once, when each is forgotten) and of senders outside any service. */
    private final LongAdder retiredHandled = new LongAdder();
    private final LongAdder retiredSent = new LongAdder();
    private final LongAdder sentFromOutside = new LongAdder();
    private final LongAdder failedCalls = new LongAdder();
    /** Where sampled call latencies go; a no-op until metrics are bound. Set once, read by service threads. */
    private volatile InternalNode.CallTimer callTimer = (remote, nanos) -> { };
    private final CompletableFuture<ExitEvent> monitorExit = new CompletableFuture<>();
    private volatile int state = RUNNING;
    /** The current life's monitor: replaced by {@link #newLife}, read anywhere. */
    private volatile Handle monitor;
    /** Where exit events go: the current monitor's cell (events for the monitor's own handle end the node's stop). */
    private volatile ServiceCell monitorCell;
    private final ServiceFactory monitorFactory;
    /** The cluster transport, once attached; null while the node is alone. */
    private volatile Remote remote;
    /** What the node's host provides to its services, by type ({@link #provide}); any thread. */
    private final ConcurrentHashMap<Class<?>, Object> provided = new ConcurrentHashMap<>();
    /** Guarded by this: a transport is attached and has not closed (it may still schedule its link timer). */
    private boolean transportOpen;
    /** Guarded by this: {@link #stop} is done with the scheduler; it shuts down now, or when the transport closes. */
    private boolean schedulerReleased;
    /** What every service's {@link ServiceContext#node()} returns; immutable. */
    private final NodeView view = new ServicesView();

    private Node(Builder b) {
        this.id = b.id;
        this.clock = b.clock;
        this.firstId = clockId();
        this.nextId = new AtomicLong(firstId);
        this.exits = new ExitLog(id, b.exitRetention, b.clock);
        this.scheduler = b.scheduler != null ? b.scheduler : new ThreadScheduler("harbor-node-" + id + "-timer");
        Handle m;
        try {
            m = launch(b.monitor);
        } catch (RuntimeException e) {
            scheduler.shutdown();
            throw new LaunchException("node " + id + " could not start its monitor: " + e.getMessage(), e);
        }
        this.monitor = m;
        this.monitorFactory = b.monitor;
        this.monitorCell = cells.get(m.id());
        List<ExitEvent> backlog = exits.subscribe(exits.lastSeq(), event -> {
            if (event.handle().equals(monitor)) {
                monitorExit.complete(event);
            } else {
                monitorCell.enqueue(new Message(null, event));
            }
        });
        assert backlog != null && backlog.isEmpty();
    }

    /** A builder for a node; {@link Builder#id} is required. */
    public static Builder builder() {
        return new Builder();
    }

    /** This node's id. */
    public int id() {
        return id;
    }

    /** The handle of this node's monitor service. */
    public Handle monitor() {
        return monitor;
    }

    /** This node's exit events. */
    public ExitLog exits() {
        return exits;
    }

    /**
     * Connects this node to other nodes through {@code remote}; from now on messages for other nodes'
     * services go there. Once only.
     *
     * @throws IllegalStateException if a transport is attached already
     */
    synchronized void attach(Remote remote) {
        Objects.requireNonNull(remote, "remote");
        if (this.remote != null) {
            throw new IllegalStateException("node " + id + " already has a cluster transport");
        }
        this.remote = remote;
        transportOpen = true;
    }

    /**
     * The transport {@code remote} attached to this node has closed: it schedules nothing more on the
     * node's {@link #scheduler()}. A node that stops while its transport is open leaves its scheduler
     * running, for the transport's link timer (its heartbeats go on until it has told its peers that
     * this node leaves); this call then shuts it down. Idempotent; any thread.
     */
    void transportClosed(Remote remote) {
        boolean shutNow;
        synchronized (this) {
            if (this.remote != remote || !transportOpen) {
                return;
            }
            transportOpen = false;
            shutNow = schedulerReleased;
        }
        if (shutNow) {
            scheduler.shutdown();
        }
    }

    /**
     * This node's scheduler and clock: call timeouts, {@link ServiceContext#after}, and the link timer
     * of the transport attached to it. Shut down by the node (see {@link #stop()}); not by its users.
     */
    public Scheduler scheduler() {
        return scheduler;
    }

    /**
     * Makes {@code value} available to this node's services as {@link #lookup lookup(type)}, replacing
     * what was provided under {@code type} before; a null value withdraws it. This is how the program
     * that hosts a node hands its services what the runtime knows nothing about (the node process gives
     * them its meter registry, for instance). Any thread.
     */
    public <T> void provide(Class<T> type, T value) {
        Objects.requireNonNull(type, "type");
        if (value == null) {
            provided.remove(type);
        } else {
            provided.put(type, type.cast(value));
        }
    }

    /** What the node's host {@linkplain #provide provides} under {@code type}, if anything. Any thread. */
    @Override
    public <T> Optional<T> lookup(Class<T> type) {
        return Optional.ofNullable(type.cast(provided.get(type)));
    }

    /** The first local id of this node's current life; lower ids belonged to earlier lives. */
    long firstIdOfThisLife() {
        return firstId;
    }

    /** The id the clock gives now: a restarted node's ids start above all of its previous life's. */
    private long clockId() {
        return Math.max(1, (clock.millis() - ID_EPOCH_MS) << ID_SHIFT);
    }

    /**
     * Ends this life of the node and starts a new one in the same process: every service of the old
     * life, its monitor included, ends with {@code reason} (each with its one exit event; everything it
     * owes is answered with an error), and a new monitor starts; from then on local ids start above
     * every id given out before, so handles of the old life stay dead ({@code gone: it belonged to an
     * earlier life}). The exit log and its numbering carry on. For the cluster transport, when the
     * cluster has declared this life lost (its peers then published the same reason for the same
     * services, the monitor included); the caller relaunches whatever the new life should run.
     *
     * <p>Order: the old services end first, their events reaching the old monitor (so its pending
     * watches are answered); then the new monitor starts and takes every later event; then the old
     * monitor ends once it has handled what it was sent, and the new one sees that exit too. Called by
     * one thread at a time (the transport's new-life thread); {@link #stop} is refused meanwhile only in that
     * it finds the new monitor.
     *
     * @return the first local id of the new life (the node's new incarnation)
     * @throws IllegalStateException if the node is stopping or stopped
     * @throws LaunchException if the new monitor cannot start (the old one then goes on)
     */
    long newLife(ExitReason reason, String why) {
        synchronized (this) {
            if (state != RUNNING) {
                throw new IllegalStateException("node " + id + " is stopping: it starts no new life");
            }
        }
        for (ServiceCell cell : newestFirst()) {
            cell.die(reason, why);
        }
        long first = nextId.updateAndGet(next -> Math.max(next, clockId()));
        firstId = first;
        // A launch that took its id before the bump and finished its init after the sweep above
        // belongs to the old life too: end it as well.
        for (ServiceCell cell : newestFirst()) {
            if (cell.handle.id() < first) {
                cell.die(reason, why);
            }
        }
        ServiceCell oldCell = monitorCell;
        Handle fresh = launch(monitorFactory);
        monitorCell = cells.get(fresh.id());
        monitor = fresh;
        oldCell.enqueue(new ServiceCell.StopAfterDrain(reason, why));
        log.info("node {}: new life from local id {}, monitor {} ({})", id, first, fresh, why);
        return first;
    }

    // ------------------------------------------------------------------ launching

    /**
     * Launches a service and waits until its init has finished.
     *
     * @throws LaunchException if its factory or init throws (the cause is that error), or the node is stopping
     */
    public Handle launch(ServiceFactory factory) {
        try {
            return launchAsync(factory).get();
        } catch (ExecutionException e) {
            throw (LaunchException) e.getCause();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LaunchException("interrupted while waiting for a launch", e);
        }
    }

    /**
     * Launches an instance of {@code type}, made by its public constructor that takes {@code args}.
     *
     * @throws LaunchException if no constructor fits, or the constructor or init throws
     */
    public Handle launch(Class<? extends Service> type, Object... args) {
        return launch(factoryOf(type, args));
    }

    /** Launches a service; the future completes with its handle after init, or with a {@link LaunchException}. */
    @Override
    public CompletableFuture<Handle> launchAsync(ServiceFactory factory) {
        Objects.requireNonNull(factory, "factory");
        FutureReply reply = new FutureReply();
        startService(factory, reply, 0);
        CompletableFuture<Handle> out = new CompletableFuture<>();
        reply.whenComplete((v, e) -> {
            if (e == null) {
                out.complete((Handle) v);
            } else {
                out.completeExceptionally(new LaunchException(e.getMessage(), e.getCause()));
            }
        });
        return out;
    }

    /** Makes a factory that calls {@code type}'s public constructor taking {@code args}. */
    public static ServiceFactory factoryOf(Class<? extends Service> type, Object... args) {
        Objects.requireNonNull(type, "type");
        Object[] copy = args.clone();
        return () -> {
            for (var c : type.getConstructors()) {
                Class<?>[] params = c.getParameterTypes();
                if (params.length != copy.length) {
                    continue;
                }
                boolean fits = true;
                for (int i = 0; i < params.length && fits; i++) {
                    fits = copy[i] == null ? !params[i].isPrimitive() : wrap(params[i]).isInstance(copy[i]);
                }
                if (fits) {
                    try {
                        return (Service) c.newInstance(copy);
                    } catch (java.lang.reflect.InvocationTargetException e) {
                        // What the constructor threw says what is wrong (a bad argument, say): pass it on as is.
                        if (e.getCause() instanceof Exception thrown) {
                            throw thrown;
                        }
                        if (e.getCause() instanceof Error error) {
                            throw error;
                        }
                        throw e;
                    }
                }
            }
            throw new IllegalArgumentException(type.getName() + " has no public constructor that takes " + copy.length
                    + " argument(s) of these types: " + describe(copy));
        };
    }

    void startService(ServiceFactory factory, ReplyTo replyTo, long session) {
        if (state != RUNNING) {
            replyTo.deliver(session, null, stopping("launches no new service"));
            return;
        }
        long local = nextId.getAndIncrement();
        ServiceCell cell = new ServiceCell(this, local, factory, replyTo, session);
        cells.put(local, cell);
        if (state != RUNNING) { // stop() may have listed the services before this one was added
            cell.die(ExitReason.NODE_STOPPED, "node " + id + " stopped during the launch");
        }
        startThread(cell::initThenLoop);
    }

    void startRunner(ServiceCell cell) {
        startThread(cell::run);
    }

    private void startThread(Runnable body) {
        activeRunners.incrementAndGet();
        runners.newThread(() -> {
            try {
                body.run();
            } catch (Throwable t) {
                log.error("node {}: a service runner failed; this is a bug in Harbor", id, t);
            } finally {
                if (activeRunners.decrementAndGet() == 0 && state != RUNNING) {
                    synchronized (activeRunners) {
                        activeRunners.notifyAll();
                    }
                }
            }
        }).start();
    }

    // ------------------------------------------------------------------ messaging

    /** Sends {@code payload} to {@code to} from outside any service. A send to a service that is gone is dropped and counted. */
    @Override
    public void send(Handle to, Object payload) {
        sentFromOutside.increment();
        route(to, new Message(null, payload));
    }

    /**
     * Sends to the service registered under {@code name}.
     *
     * @throws CallException with {@link CallException.Failure#NO_SUCH_NAME} if nothing has that name
     */
    public void send(String name, Object payload) {
        Handle to = resolve(name);
        sentFromOutside.increment();
        route(to, new Message(null, payload));
    }

    /**
     * Calls {@code to} from outside any service. A platform thread that waits on the returned future
     * ({@code get}, {@code join}) spins for up to 50 µs before it parks, since a local reply usually
     * comes sooner than a parked thread wakes; a virtual thread parks at once.
     *
     * @param timeout how long to wait for the reply; null for no limit
     * @return the reply, or a {@link CallException} that says why there is none
     */
    @Override
    public CompletableFuture<Object> call(Handle to, Object payload, Duration timeout) {
        Objects.requireNonNull(to, "to");
        FutureReply reply = new FutureReply();
        sentFromOutside.increment();
        route(to, new Request(null, to, payload, reply, 0));
        if (timeout != null && !reply.isDone()) {
            try {
                Cancellable t = scheduler.schedule(() -> reply.completeExceptionally(new CallException(
                        CallException.Failure.TIMEOUT, to, "call to " + to + " got no reply within " + timeout.toMillis() + " ms", null)),
                        timeout);
                reply.whenComplete((v, e) -> t.cancel());
            } catch (RejectedExecutionException e) {
                reply.completeExceptionally(stopping("takes no timed calls"));
            }
        }
        return reply;
    }

    /** Calls the service registered under {@code name}; see {@link #call(Handle, Object, Duration)}. */
    public CompletableFuture<Object> call(String name, Object payload, Duration timeout) {
        try {
            return call(resolve(name), payload, timeout);
        } catch (CallException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /**
     * Calls {@code to} and waits for the reply.
     *
     * @throws CallException if there is none, saying why
     */
    public Object callAndWait(Handle to, Object payload, Duration timeout) {
        try {
            return call(to, payload, timeout).join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof CallException ce) {
                throw new CallException(ce.failure(), ce.target(), ce.exitReason(), ce.getMessage(), ce.getCause());
            }
            throw e;
        }
    }

    void route(Handle to, Message message) {
        ServiceCell cell = localCell(to);
        if (cell != null) {
            cell.enqueue(message);
            return;
        }
        Remote r = remote;
        if (to.node() != id && r != null) {
            r.route(to, message);
        } else {
            undeliverable(to, message);
        }
    }

    /** A new outbox for a service's sends to other nodes, or null while no transport is attached. */
    Outbox outbox() {
        Remote r = remote;
        return r == null ? null : r.outbox();
    }

    /** The cell of {@code to} if it is a live service of this node, else null. */
    private ServiceCell localCell(Handle to) {
        ServiceCell cell = to.cell;
        if (cell != null && cell.node == this) {
            return cell;
        }
        return to.node() == id ? cells.get(to.id()) : null;
    }

    /**
     * Delivers {@code item}, a send that came from another node to {@code to} (a {@link Message}) or
     * sends that came one after another ({@link Arrivals}), as one mailbox item (see
     * {@link InternalNode.RemoteSends}). Sends to a service that is gone are dropped and counted, each.
     */
    void deliverFromRemote(Handle to, Object item) {
        ServiceCell cell = localCell(to);
        if (cell != null) {
            cell.enqueue(item);
        } else if (item instanceof Arrivals a) {
            a.deadLetters(this, to);
        } else {
            deadLetter(to, (Message) item);
        }
    }

    /**
     * Delivers a call that came from another node to a service of this node; its one answer goes to
     * {@code replyTo} with {@code session}. For the cluster transport.
     */
    void callFromRemote(Handle from, Handle to, Object payload, ReplyTo replyTo, long session) {
        Request request = new Request(from, to, payload, replyTo, session);
        if (to.node() != id) {
            request.answer(null, new CallException(CallException.Failure.NO_SUCH_SERVICE, to,
                    "node " + id + " got a call for " + to + ", which belongs to node " + to.node(), null));
            return;
        }
        route(to, request);
    }

    private void undeliverable(Handle to, Message message) {
        if (message instanceof Request request) {
            callFailed();
            request.answer(null, whyNot(to));
        } else {
            deadLetter(to, message);
        }
    }

    private CallException whyNot(Handle to) {
        if (to.node() != id) {
            return new CallException(CallException.Failure.UNREACHABLE, to,
                    "node " + to.node() + " of service " + to + " is not connected to node " + id, null);
        }
        if (!everExisted(to)) {
            return new CallException(CallException.Failure.NO_SUCH_SERVICE, to,
                    "no service " + to + " exists on node " + id + ": this handle was never given out", null);
        }
        if (to.id() < firstId) {
            return new CallException(CallException.Failure.GONE, to, null,
                    "service " + to + " is gone: it belonged to an earlier life of node " + id, null);
        }
        return exits.find(to).map(e -> CallException.gone(to, e.reason()))
                .orElseGet(() -> new CallException(CallException.Failure.GONE, to, null,
                        "service " + to + " is gone (its exit is older than the retained exit log)", null));
    }

    void deadLetter(Handle to, Message message) {
        deadLetters.increment();
        log.debug("node {}: dropped a send to {}, which is gone: {}", id, to, message);
    }

    /** Sends that were dropped because their service was gone or never existed. */
    long deadLetters() {
        return deadLetters.sum();
    }

    /** Schedules a call's timeout: once the scheduler is shut down (the node stopped), it runs at once (a timeout now rather than never). */
    Cancellable scheduleTimeout(Runnable task, Duration delay) {
        try {
            return scheduler.schedule(task, delay);
        } catch (RejectedExecutionException e) {
            task.run();
            return () -> false;
        }
    }

    // ------------------------------------------------------------------ names

    /**
     * The service registered under {@code name}. Names that start with {@code .} are local to this
     * node; the others are global.
     */
    @Override
    public Optional<Handle> whereis(String name) {
        Handle h = names.get(name);
        if (h == null && isGlobal(name)) {
            Remote r = remote;
            return r == null ? Optional.empty() : r.whereis(name);
        }
        return Optional.ofNullable(h);
    }

    /** Whether {@code name} is global: names that start with {@code .} are local to their node. */
    private static boolean isGlobal(String name) {
        return !name.startsWith(".");
    }

    Handle resolve(String name) {
        Handle h = whereis(name).orElse(null);
        if (h == null) {
            throw new CallException(CallException.Failure.NO_SUCH_NAME, null, "no service is registered as '" + name + "'", null);
        }
        return h;
    }

    void register(ServiceCell cell, String name) {
        if (name == null || name.isBlank() || name.equals(".") || !name.strip().equals(name)) {
            throw new IllegalArgumentException("'" + name + "' is not a service name: use a non-empty name without"
                    + " surrounding spaces, starting with '.' for a local name");
        }
        synchronized (nameLock) {
            if (cell.isDead()) {
                throw new ServiceExitedException(cell.handle, ExitReason.EXIT);
            }
            boolean global = isGlobal(name);
            Remote r = remote;
            String refused = global && r != null ? r.refusesGlobalNames() : null;
            if (refused != null) {
                throw new IllegalStateException("the global name '" + name + "' cannot be taken now: " + refused);
            }
            Handle holder = global && r != null ? r.whereis(name).orElse(null) : null;
            if (holder == null) {
                holder = names.putIfAbsent(name, cell.handle);
            }
            if (holder != null) {
                throw new IllegalArgumentException("the name '" + name + "' is already taken by service " + holder);
            }
            List<String> now = new ArrayList<>(cell.names);
            now.add(name);
            cell.names = List.copyOf(now);
            if (global && r != null) {
                r.globalNameBound(name, cell.handle);
            }
        }
    }

    /** The global names held now (see {@link InternalNode#globalNames}): a snapshot of the name table. */
    java.util.Map<String, Handle> globalNames() {
        java.util.Map<String, Handle> out = new java.util.TreeMap<>();
        names.forEach((name, holder) -> {
            if (isGlobal(name)) {
                out.put(name, holder);
            }
        });
        return out;
    }

    /** Called by a service's init thread once the service is live. */
    void serviceLive(ServiceCell cell) {
        Remote r = remote;
        if (r != null) {
            r.serviceLive(cell.handle);
        }
    }

    /** Releases a dead service's names; returns them. */
    List<String> releaseNames(ServiceCell cell) {
        synchronized (nameLock) {
            List<String> held = cell.names;
            for (String n : held) {
                names.remove(n, cell.handle);
            }
            return held;
        }
    }

    /** Removes a dead service from the table, once its exit event is published. */
    void forget(ServiceCell cell) {
        if (cells.remove(cell.handle.id(), cell)) {
            retiredHandled.add(cell.handledCount());
            retiredSent.add(cell.sentCount());
        }
    }

    /** See {@link InternalNode#traffic}: one pass over the live services, without synchronisation. */
    InternalNode.Traffic traffic() {
        long handled = retiredHandled.sum();
        long sent = retiredSent.sum() + sentFromOutside.sum();
        long depth = 0;
        int n = 0;
        for (ServiceCell cell : cells.values()) {
            handled += cell.handledCount();
            sent += cell.sentCount();
            depth += cell.mailboxDepth();
            n++;
        }
        return new InternalNode.Traffic(sent, handled, deadLetters.sum(), failedCalls.sum(), depth, n);
    }

    /** Sends sampled call latencies to {@code timer} from now on (metrics). It runs on service threads and must not block. */
    void timeCalls(InternalNode.CallTimer timer) {
        this.callTimer = Objects.requireNonNull(timer, "timer");
    }

    /** Counts a call answered with an error because its service was gone. */
    void callFailed() {
        failedCalls.increment();
    }

    void callTimed(Handle to, long nanos) {
        callTimer.record(to.node() != id, nanos);
    }

    // ------------------------------------------------------------------ admin

    /**
     * Whether {@code handle} names a live service: of this node, one that has finished init and not
     * exited; of another node, one this node has heard is alive.
     */
    public boolean isAlive(Handle handle) {
        if (handle.node() != id) {
            Remote r = remote;
            return r != null && r.isAlive(handle);
        }
        ServiceCell cell = cells.get(handle.id());
        return cell != null && cell.isListed();
    }

    /**
     * Whether {@code handle} names a service of this node that exists but is not listed: its init is
     * still running, or it has ended and its exit event is about to be published. Either way its exit
     * event is still to come.
     */
    boolean isUnlisted(Handle handle) {
        ServiceCell cell = handle.node() == id ? cells.get(handle.id()) : null;
        return cell != null && !cell.isListed();
    }

    /** Whether this node ever gave out {@code handle} (in this life or an earlier one). */
    boolean everExisted(Handle handle) {
        return handle.node() == id && handle.id() < nextId.get();
    }

    /** The services alive now, oldest first. */
    public List<ServiceInfo> services() {
        List<ServiceInfo> out = new ArrayList<>();
        for (ServiceCell cell : cells.values()) {
            if (cell.isListed()) {
                out.add(cell.info());
            }
        }
        out.sort(Comparator.comparing(ServiceInfo::handle));
        return out;
    }

    /**
     * Ends {@code target} at once: everything it owes or has queued is answered with an error, its
     * {@link Service#onEnd} hook runs on this thread, and its exit event ({@code KILLED}) is published,
     * all before this returns (for a service still in its init, the hook runs once init returns).
     *
     * @return false if it was not alive
     * @throws IllegalArgumentException for the monitor, which ends only with its node
     */
    public boolean kill(Handle target) {
        if (target.equals(monitor)) {
            throw new IllegalArgumentException("service " + target + " is the monitor of node " + id
                    + " and ends only with its node: stop the node instead");
        }
        ServiceCell cell = target.node() == id ? cells.get(target.id()) : null;
        return cell != null && cell.die(ExitReason.KILLED, "killed");
    }

    /**
     * Tells when {@code target} exits: the future completes with its exit event, at once if it has
     * exited already, or fails if the node cannot tell (never existed, or no longer retained).
     */
    public CompletableFuture<ExitEvent> watch(Handle target) {
        return call(monitor, new Monitor.Watch(target, null), null).thenCompose(answer -> {
            if (answer instanceof Monitor.WatchFailed failed) {
                return CompletableFuture.failedFuture(new CallException(target.node() != id ? CallException.Failure.UNREACHABLE : everExisted(target)
                        ? CallException.Failure.GONE : CallException.Failure.NO_SUCH_SERVICE, target, failed.why(), null));
            }
            return CompletableFuture.completedFuture((ExitEvent) answer);
        });
    }

    /** Ends every service but the monitor ({@code ABORTED}). The node goes on running. */
    public void abort() {
        for (ServiceCell cell : newestFirst()) {
            cell.die(ExitReason.ABORTED, "node " + id + " aborted");
        }
    }

    /**
     * Stops the node: ends every service, newest first ({@code NODE_STOPPED}), lets the monitor handle
     * every exit event (at most 5 s), ends it, shuts the scheduler down (or, while an attached transport
     * is open, leaves that to {@link InternalNode#transportClosed}), then waits (at most
     * {@link #STUCK_HANDLER_WAIT}, 1 s) for handlers still running to finish. Idempotent.
     */
    public void stop() {
        synchronized (this) {
            if (state != RUNNING) {
                return;
            }
            state = STOPPING;
        }
        for (ServiceCell cell : newestFirst()) {
            cell.die(ExitReason.NODE_STOPPED, "node " + id + " stopped");
        }
        ServiceCell monitorCell = cells.get(monitor.id());
        if (monitorCell != null) { // the current life's monitor
            monitorCell.enqueue(new ServiceCell.StopAfterDrain(ExitReason.NODE_STOPPED, "node " + id + " stopped"));
            try {
                monitorExit.get(STOP_WAIT.toMillis(), TimeUnit.MILLISECONDS);
            } catch (TimeoutException | ExecutionException e) {
                log.warn("node {}: the monitor did not finish its exit events within {} ms; ending it", id, STOP_WAIT.toMillis());
                monitorCell.die(ExitReason.NODE_STOPPED, "node " + id + " stopped");
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        releaseScheduler();
        awaitRunners(STUCK_HANDLER_WAIT);
        state = STOPPED;
    }

    /** Shuts the scheduler down, or leaves that to {@link #transportClosed} while the transport is open. */
    private void releaseScheduler() {
        boolean shutNow;
        synchronized (this) {
            schedulerReleased = true;
            shutNow = !transportOpen;
        }
        if (shutNow) {
            scheduler.shutdown();
        }
    }

    private void awaitRunners(Duration max) {
        long deadline = System.nanoTime() + max.toNanos();
        synchronized (activeRunners) {
            while (activeRunners.get() > 0) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    log.warn("node {}: {} service thread(s) still running {} ms after stop; a handler is stuck", id,
                            activeRunners.get(), max.toMillis());
                    return;
                }
                try {
                    activeRunners.wait(Math.max(1, left / 1_000_000));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return;
                }
            }
        }
    }

    /** Whether {@link #stop()} has finished. */
    public boolean isStopped() {
        return state == STOPPED;
    }

    /** Threads running service code now; zero once the node is stopped and nothing is stuck. */
    int activeThreads() {
        return activeRunners.get();
    }

    @Override
    public void close() {
        stop();
    }

    /** The view of this node that its services get. */
    NodeView view() {
        return view;
    }

    /**
     * The {@link NodeView} of this node that {@link ServiceContext#node()} returns: it forwards the view's
     * methods and has no other, in an object of its own, so that a service cannot cast its way to
     * {@link #stop()}, {@link #abort()} or the hooks.
     */
    private final class ServicesView implements NodeView {
        @Override
        public void send(Handle to, Object payload) {
            Node.this.send(to, payload);
        }

        @Override
        public CompletableFuture<Object> call(Handle to, Object payload, Duration timeout) {
            return Node.this.call(to, payload, timeout);
        }

        @Override
        public CompletableFuture<Handle> launchAsync(ServiceFactory factory) {
            return Node.this.launchAsync(factory);
        }

        @Override
        public Optional<Handle> whereis(String name) {
            return Node.this.whereis(name);
        }

        @Override
        public <T> Optional<T> lookup(Class<T> type) {
            return Node.this.lookup(type);
        }

        @Override
        public String toString() {
            return "node " + id;
        }
    }

    private List<ServiceCell> newestFirst() {
        List<ServiceCell> all = new ArrayList<>();
        for (ServiceCell cell : cells.values()) {
            if (!cell.handle.equals(monitor)) {
                all.add(cell);
            }
        }
        all.sort(Comparator.comparingLong((ServiceCell c) -> c.handle.id()).reversed());
        return all;
    }

    private CallException stopping(String what) {
        return new CallException(CallException.Failure.NODE_STOPPING, null, "node " + id + " is stopping: it " + what, null);
    }

    private static Class<?> wrap(Class<?> c) {
        if (!c.isPrimitive()) {
            return c;
        }
        return switch (c.getName()) {
            case "int" -> Integer.class;
            case "long" -> Long.class;
            case "boolean" -> Boolean.class;
            case "double" -> Double.class;
            case "float" -> Float.class;
            case "short" -> Short.class;
            case "byte" -> Byte.class;
            case "char" -> Character.class;
            default -> Void.class;
        };
    }

    private static String describe(Object[] args) {
        List<String> types = new ArrayList<>();
        for (Object a : args) {
            types.add(a == null ? "null" : a.getClass().getSimpleName());
        }
        return types.toString();
    }

    /** Settings of a node. */
    public static final class Builder {
        private int id;
        private ServiceFactory monitor = LoggingMonitor::new;
        private int exitRetention = 65_536;
        private Clock clock = Clock.systemUTC();
        private Scheduler scheduler;

        private Builder() {
        }

        /** The node's id, 1 to 65535, unique in its cluster. Required. */
        public Builder id(int id) {
            if (id < 1 || id > Handle.MAX_NODE) {
                throw new IllegalArgumentException("node id " + id + " is out of range: use 1 to " + Handle.MAX_NODE);
            }
            this.id = id;
            return this;
        }

        /** The node's monitor; by default a {@link LoggingMonitor}. It must extend {@link Monitor}. */
        public Builder monitor(ServiceFactory monitor) {
            this.monitor = Objects.requireNonNull(monitor, "monitor");
            return this;
        }

        /** How many recent exit events the node keeps for late readers (default 65536). */
        public Builder exitRetention(int events) {
            if (events < 1) {
                throw new IllegalArgumentException("exit retention must be at least 1 event, got " + events);
            }
            this.exitRetention = events;
            return this;
        }

        /** The clock for exit times and the id seed (for tests). */
        public Builder clock(Clock clock) {
            this.clock = Objects.requireNonNull(clock, "clock");
            return this;
        }

        /**
         * The scheduler for call timeouts and {@link ServiceContext#after} (for tests: one whose clock
         * the test moves). By default one daemon thread, {@code harbor-node-<id>-timer}, on the system's
         * monotonic clock. The node owns it from then on and shuts it down when it stops (with a
         * transport attached, once that has closed too). The attached transport runs its link timer on
         * it and reads its clock, so a test that moves this clock moves the node's heartbeats and
         * verdicts too.
         */
        public Builder scheduler(Scheduler scheduler) {
            this.scheduler = Objects.requireNonNull(scheduler, "scheduler");
            return this;
        }

        /** Starts the node and its monitor. */
        public Node build() {
            if (id == 0) {
                throw new IllegalStateException("a node needs an id: call id(n) with 1 to " + Handle.MAX_NODE);
            }
            return new Node(this);
        }
    }
}
