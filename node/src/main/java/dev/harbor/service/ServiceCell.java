package dev.harbor.service;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.time.Duration;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The runtime side of one service: its mailbox, its scheduling and its death.
 *
 * <h2>Who runs the service's code: the token</h2>
 * At most one thread at a time runs this service's code; that thread "holds the token"
 * ({@link #sched} is 1). Handlers run on virtual threads. The token passes:
 * <ul>
 *   <li>to a new runner thread, started by whoever enqueues a message into an idle mailbox;</li>
 *   <li>from a handler that suspends in {@link #call} to a new runner (if there is work), so the
 *       service keeps handling messages while one handler waits;</li>
 *   <li>from the runner that takes a {@link Reply} out of the mailbox to the handler that waits for
 *       it, which resumes and then goes on as the runner;</li>
 *   <li>after death, from handler to waiting handler, each woken with {@link ServiceExitedException}
 *       to unwind, one at a time.</li>
 * </ul>
 * Fields marked <i>token-owned</i> are touched only by the token holder. Sends that came from
 * another node one after another arrive as one mailbox item ({@link Arrivals}); the token holder
 * takes its messages one by one through a cursor that passes with the token, and a holder about to
 * wait in {@link #call} keeps the token for a new runner while that cursor holds messages.
 *
 * <h2>Death</h2>
 * {@link #die} may run on any thread (a killer, the node stopping) and does not wait for the token:
 * it answers every queued, running, suspended or deferred request with an error, releases the names,
 * and publishes the one exit event at once, even if a handler is stuck. Requests are answered at most
 * once (see {@link Request#answer}), so these races are safe. The mailbox is a multi-consumer queue
 * so that the killer can drain it while a runner polls it. {@code die} also drops the service's
 * {@link ServiceContext#after} messages still to come, and runs its {@link Service#onEnd} hook on the
 * same thread just before it publishes the exit event (see {@link #runExitHook}).
 *
 * <h2>Sends to other nodes</h2>
 * A send to a service of another node goes into the service's {@link Outbox}, which the transport
 * may hold to hand a batch to the link at once. This cell flushes it at the points the outbox's
 * contract lists: after init and each handler, before a call, a local send, a launch, a name, a kill,
 * a watch and an answer, and in {@link #die} after the exit hook and before the exit event. The
 * outbox is thread-safe: its service's thread sends, and any of these threads flushes.
 */
final class ServiceCell implements ServiceContext, ReplyTo {
    private static final Logger log = LoggerFactory.getLogger(ServiceCell.class);
    /** Messages a runner handles between two looks at the clock (see {@link #SLICE_NANOS}). */
    private static final int BATCH = 64;
    /**
     * How long a runner keeps its carrier thread, while its mailbox has work, before it lets other
     * virtual threads run: the scheduler does not preempt. Looked at every {@link #BATCH} messages, so
     * a service that runs for longer than this without a break holds its carrier for at most this plus
     * {@link #BATCH} messages before {@link #giveWay()}. Giving way is not free: yielding every 64
     * messages, as the runner once did, woke a second carrier some 80,000 times a second on a busy
     * receiver of another node's stream (BENCHMARKS.md, "A yield per time slice").
     */
    private static final long SLICE_NANOS = 1_000_000;

    private static final VarHandle SCHED;
    private static final VarHandle DEATH;
    private static final VarHandle EXIT_HOOK;

    static {
        try {
            MethodHandles.Lookup l = MethodHandles.lookup();
            SCHED = l.findVarHandle(ServiceCell.class, "sched", int.class);
            DEATH = l.findVarHandle(ServiceCell.class, "death", ExitReason.class);
            EXIT_HOOK = l.findVarHandle(ServiceCell.class, "exitHook", Service.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    /** One call in this many (a power of two) is timed for the call-latency metric. */
    static final int CALL_SAMPLE = 16;

    final Node node;
    final Handle handle;
    private final ConcurrentLinkedQueue<Object> mailbox = new ConcurrentLinkedQueue<>();

    /** 1 while a thread holds the token. Any thread may take it from 0 by CAS. */
    @SuppressWarnings("unused") // through SCHED
    private volatile int sched = 1; // the init thread holds it from the start
    /** False until init has finished. Written by the init thread. */
    private volatile boolean live;
    /** Null while alive; set once, by whoever ends the service. */
    private volatile ExitReason death;
    /**
     * The service whose {@link Service#onEnd} is still to run: set by the init thread once init has
     * returned or thrown, taken (swapped for null) by whichever thread runs the hook, so it runs once.
     */
    @SuppressWarnings("unused") // through EXIT_HOOK
    private volatile Service exitHook;

    // --- token-owned ---
    private ServiceFactory factory; // until init
    private Service service;
    private String type = "?";
    private long nextSession;
    private HashMap<Long, Suspended> suspended;
    private ExitReason exitRequested;
    private Thread owner;
    /** Written by the token holder only; read without synchronisation by listings (a snapshot). */
    private long handled;
    /**
     * Sends and calls this service made. Written by the token holder (its handlers and init, the only
     * code that may use this context); read without synchronisation by {@link Node#traffic()}, which
     * takes a snapshot and tolerates a count a few messages old. A plain field, not an atomic: the
     * local send path must not pay for its metrics.
     */
    private long sent;

    // --- shared ---
    /** Where the launch result goes; token-owned, dropped once delivered. */
    private ReplyTo launchReplyTo;
    private final long launchSession;
    /** The request whose handler runs now. Written by the token holder, read by killers. */
    private volatile Request current;
    /** Requests deferred or waiting in a suspended handler. Created once, lazily. */
    private volatile Set<Request> owed;
    /** {@link ServiceContext#after} messages not yet due (any thread adds them; {@link #die} drops them). Created once, lazily. */
    private volatile Set<Delayed> timers;
    /** Messages that arrived during init, in order. Filled by the token holder, drained by it or by a killer. */
    private volatile ConcurrentLinkedQueue<Object> held;
    /**
     * The {@link Arrivals} being handled: the sends it has left are next, before anything else in the
     * mailbox. Token holder only (it passes with the token); null when none.
     */
    private Arrivals arrivals;
    /** The names this service holds. Guarded by the node's name lock. */
    List<String> names = List.of();
    /**
     * Its sends to services of other nodes, made on its first such send (see {@link Outbox}). Written
     * by the thread that sends (the token holder, in practice), read by any thread that flushes it.
     */
    private volatile Outbox outbox;
    /** Its tags: an immutable map, replaced whole under this cell's lock, read without it. */
    private volatile Map<String, String> tags = Map.of();

    ServiceCell(Node node, long id, ServiceFactory factory, ReplyTo launchReplyTo, long launchSession) {
        this.node = node;
        this.handle = new Handle(node.id(), id, this);
        this.factory = factory;
        this.launchReplyTo = launchReplyTo;
        this.launchSession = launchSession;
    }

    // ------------------------------------------------------------------ running

    /** The first runner: makes the service, runs its init, reports the launch, then runs the loop. */
    void initThenLoop() {
        owner = Thread.currentThread();
        Service made = null;
        try {
            made = factory.create();
            if (made == null) {
                throw new NullPointerException("the service factory returned null");
            }
            factory = null;
            service = made;
            type = made.getClass().getName();
            made.init(this);
            flushOutbox();
        } catch (ServiceExitedException e) {
            armExitHook(made); // it has ended: the hook runs now
            launchReplyTo.deliver(launchSession, null, new CallException(CallException.Failure.GONE, handle, death,
                    "service " + handle + " was ended (" + death + ") during its init", null));
            afterDeath();
            return;
        } catch (Throwable t) {
            armExitHook(made); // null if the factory failed: no service, no hook
            die(ExitReason.INIT_FAILED, t.toString());
            launchReplyTo.deliver(launchSession, null, new CallException(CallException.Failure.GONE, handle,
                    ExitReason.INIT_FAILED, "service " + handle + " (" + type + ") failed its init: " + t, t));
            afterDeath();
            return;
        }
        armExitHook(made); // ended during init (killed, node stopped): the hook runs now, on this thread
        live = true;
        ExitReason killed = death;
        if (killed != null) {
            launchReplyTo.deliver(launchSession, null, new CallException(CallException.Failure.GONE, handle, killed,
                    "service " + handle + " was ended (" + killed + ") during its init", null));
            afterDeath();
            return;
        }
        node.serviceLive(this);
        launchReplyTo.deliver(launchSession, handle, null);
        launchReplyTo = null;
        if (exitRequested != null) {
            die(exitRequested, "");
        }
        loop();
    }

    /** A runner started for a mailbox that had work. */
    void run() {
        owner = Thread.currentThread();
        loop();
    }

    /**
     * Handles messages until the mailbox is empty, the token is handed on, or the service is dead,
     * letting other virtual threads run once per {@link #SLICE_NANOS} of work.
     */
    private void loop() {
        int n = 0;
        long slice = System.nanoTime();
        for (;;) {
            if (death != null) {
                afterDeath();
                return;
            }
            Object m = next();
            if (m == null) {
                if (reacquire()) {
                    continue;
                }
                return;
            }
            if (!dispatch(m)) {
                return;
            }
            if (++n == BATCH) {
                n = 0;
                long now = System.nanoTime();
                if (now - slice >= SLICE_NANOS) {
                    giveWay();
                    slice = System.nanoTime();
                }
            }
        }
    }

    /**
     * Lets the other virtual threads waiting for a carrier run before this one goes on: it parks for
     * a nanosecond, so the scheduler has it in none of its queues until its timer has fired (tens of
     * microseconds), and the carrier takes the next task it finds. {@link Thread#yield()} does not do
     * that: the yielding thread goes back into a queue of the scheduler's, and a carrier keeps taking
     * tasks from the queue it took the last one from, so with every carrier busy a service that
     * yields could get its carrier straight back, every time, while another waited for the whole of
     * its mailbox (OneCarrierTest). A permit left over from an earlier unpark ends the park at once:
     * then the next slice gives way instead.
     */
    private static void giveWay() {
        LockSupport.parkNanos(1);
    }

    private Object next() {
        ConcurrentLinkedQueue<Object> h = held;
        if (h != null && live) {
            Object m = h.poll();
            if (m != null) {
                return m;
            }
            held = null;
        }
        Arrivals a = arrivals;
        if (a == null) {
            Object m = mailbox.poll();
            if (!(m instanceof Arrivals)) {
                return m;
            }
            a = (Arrivals) m;
        }
        Message m = a.take();
        arrivals = a.left() > 0 ? a : null; // the last one taken: the item (and a frame it reads) can go
        return m;
    }

    /**
     * Releases the token; takes it back if there is work and nobody else took it.
     *
     * @return true if the caller holds the token again and must run the loop (or start a runner)
     */
    private boolean reacquire() {
        owner = null; // an idle service must not keep its last thread alive (about 300 bytes)
        boolean arrivalsLeft = arrivals != null; // read while this thread still holds the token (a handler about to wait)
        SCHED.setVolatile(this, 0);
        ConcurrentLinkedQueue<Object> h = held;
        boolean work = arrivalsLeft || death != null || !mailbox.isEmpty() || (live && h != null && !h.isEmpty());
        if (work && SCHED.compareAndSet(this, 0, 1)) {
            owner = Thread.currentThread();
            return true;
        }
        return false;
    }

    /** @return false if the token was handed to another thread */
    private boolean dispatch(Object m) {
        if (m instanceof Reply r) {
            return resume(r);
        }
        if (m instanceof StopAfterDrain stop) {
            die(stop.reason(), stop.detail());
            return true;
        }
        Message message = (Message) m;
        if (!live) {
            ConcurrentLinkedQueue<Object> h = held;
            if (h == null) {
                held = h = new ConcurrentLinkedQueue<>();
            }
            h.add(message);
            if (death != null) {
                drainDead(h);
            }
            return true;
        }
        if (message instanceof Delayed d && !d.take()) {
            return true; // cancelled after it was queued
        }
        handled++;
        if (message instanceof Request request) {
            handleCall(request);
        } else {
            handleSend(message);
        }
        if (exitRequested != null && death == null) {
            die(exitRequested, "");
        }
        return true;
    }

    private void handleCall(Request request) {
        current = request;
        request.handledBy = this;
        if (death != null) {
            request.answer(null, CallException.gone(handle, death));
            current = null;
            return;
        }
        try {
            Object result = service.receive(this, request);
            flushOutbox(); // the sends the handler made reach their nodes before its answer
            if (!request.deferred) {
                request.answer(result, null);
            }
        } catch (ServiceExitedException e) {
            // This service ended while the handler waited; the caller has been answered with "gone".
        } catch (Throwable t) {
            log.debug("service {} ({}) failed a call from {}", handle, type, request.from(), t);
            flushOutbox(); // the sends it made before it failed go before the failure too
            request.answer(null, new CallException(CallException.Failure.HANDLER_FAILED, handle,
                    "service " + handle + " (" + type + ") failed the call: " + t, t));
        }
        if (request.deferred && !request.isAnswered()) {
            track(request);
        }
        current = null;
    }

    private void handleSend(Message message) {
        try {
            service.receive(this, message);
        } catch (ServiceExitedException e) {
            // Ended while the handler waited; nothing to answer.
        } catch (Throwable t) {
            log.warn("service {} ({}) failed handling a send from {}: {}", handle, type, message.from(), t.toString(), t);
        }
        flushOutbox();
    }

    /** Hands the token to the handler waiting for {@code reply}. */
    private boolean resume(Reply reply) {
        Suspended s = suspended == null ? null : suspended.remove(reply.session());
        if (s == null) {
            return true; // the call timed out before, or its handler was woken by death
        }
        s.value = reply.value();
        s.error = reply.error();
        s.resumed = true;
        LockSupport.unpark(s.thread);
        return false;
    }

    /** Run by the token holder once the service is dead: fails what is left, wakes one waiting handler. */
    private void afterDeath() {
        ConcurrentLinkedQueue<Object> h = held;
        if (h != null) {
            drainDead(h);
        }
        Arrivals a = arrivals;
        if (a != null) {
            arrivals = null;
            a.deadLetters(node, handle);
        }
        drainDead(mailbox);
        if (suspended != null && !suspended.isEmpty()) {
            Iterator<Suspended> it = suspended.values().iterator();
            Suspended s = it.next();
            it.remove();
            s.exited = true;
            s.resumed = true;
            LockSupport.unpark(s.thread); // the token passes to it; it comes back here when it unwinds
            return;
        }
        // Keep the token for good: no runner starts for this cell again.
        service = null;
        owner = null;
    }

    // ------------------------------------------------------------------ messages in

    /** Puts a message, request, reply or control into the mailbox. Any thread. */
    void enqueue(Object m) {
        if (death != null) {
            reject(m);
            return;
        }
        mailbox.offer(m);
        if (death != null) {
            drainDead(mailbox); // the killer may have drained before our offer landed
            return;
        }
        if (sched == 0 && SCHED.compareAndSet(this, 0, 1)) {
            node.startRunner(this);
        }
    }

    private void reject(Object m) {
        if (m instanceof Delayed) {
            return; // an after() message for a service that has ended: dropped, not a dead letter
        }
        if (m instanceof Request r) {
            node.callFailed();
            r.answer(null, CallException.gone(handle, death));
        } else if (m instanceof Message msg) {
            node.deadLetter(handle, msg);
        } else if (m instanceof Arrivals a) {
            a.deadLetters(node, handle);
        }
    }

    private void drainDead(ConcurrentLinkedQueue<Object> q) {
        Object m;
        while ((m = q.poll()) != null) {
            reject(m);
        }
    }

    /**
     * Answers for calls this service made. Only the token holder may resume a waiting handler. When
     * the service is idle and nothing is queued, the deliverer takes the token and hands it straight to
     * the waiting handler, which saves starting a runner thread just to pass the token on; otherwise
     * the answer is queued behind the messages that came before it.
     */
    @Override
    public void deliver(long session, Object value, CallException error) {
        Reply reply = new Reply(session, value, error);
        if (death == null && mailbox.isEmpty() && sched == 0 && SCHED.compareAndSet(this, 0, 1)) {
            if (death == null && !resume(reply)) {
                return; // the token went to the waiting handler
            }
            // Nobody waits for it (timed out before), or the service died meanwhile: act as a runner
            // that ran out of work, which also unwinds the waiting handlers after a death.
            if (reacquire()) {
                node.startRunner(this);
            }
            return;
        }
        enqueue(reply);
    }

    // ------------------------------------------------------------------ owed replies

    private void track(Request request) {
        Set<Request> set = owed;
        if (set == null) {
            synchronized (this) {
                set = owed;
                if (set == null) {
                    owed = set = ConcurrentHashMap.newKeySet();
                }
            }
        }
        request.owedBy = this;
        set.add(request);
        if (request.isAnswered()) {
            set.remove(request); // answered before owedBy was visible to the answerer
        } else if (death != null) {
            request.answer(null, CallException.gone(handle, death));
        }
    }

    void forget(Request request) {
        Set<Request> set = owed;
        if (set != null) {
            set.remove(request);
        }
    }

    // ------------------------------------------------------------------ death

    /**
     * Ends the service for {@code reason}, at once, from any thread.
     *
     * @return false if it had already ended
     */
    boolean die(ExitReason reason, String detail) {
        if (!DEATH.compareAndSet(this, null, reason)) {
            return false;
        }
        List<String> released = node.releaseNames(this);
        CallException gone = CallException.gone(handle, reason);
        Request running = current; // read before owed: a request moves from current to owed, never back
        if (running != null) {
            running.answer(null, gone);
        }
        Set<Request> set = owed;
        if (set != null) {
            for (Request r : set) {
                r.answer(null, gone);
            }
        }
        ConcurrentLinkedQueue<Object> h = held;
        if (h != null) {
            drainDead(h);
        }
        drainDead(mailbox);
        Set<Delayed> due = timers;
        if (due != null) {
            for (Delayed d : due) {
                d.drop();
            }
        }
        runExitHook(); // before the publication: whoever learns of the end from the event knows the clean-up ran
        flushOutbox(); // its sends, the exit hook's included, go before its exit event
        node.exits().publish(handle, released, reason, detail);
        node.forget(this); // after the publication: a watcher that finds it ending knows its event is still to come
        if (SCHED.compareAndSet(this, 0, 1)) {
            // Nobody runs this service's code: take the token to unwind the handlers that wait.
            afterDeath();
        }
        return true;
    }

    /**
     * Called by the init thread once init has returned or thrown: from now on the service's exit hook
     * runs when it ends, and at once if it has ended already (killed or stopped during its init).
     */
    private void armExitHook(Service made) {
        if (made == null) {
            return;
        }
        EXIT_HOOK.setVolatile(this, made);
        if (death != null) {
            runExitHook();
        }
    }

    /**
     * Runs the service's {@link Service#onEnd} if it is armed and has not run: called by {@link #die}
     * after the death is set, and by the init thread after arming it, so that whichever comes second
     * runs it (a volatile write then read on each side: at least one sees the other's), and the swap
     * makes it exactly once.
     */
    private void runExitHook() {
        Service s = (Service) EXIT_HOOK.getAndSet(this, (Service) null);
        if (s == null) {
            return;
        }
        try {
            s.onEnd(this, death);
        } catch (Throwable t) {
            log.warn("service {} ({}): its exit hook failed: {}", handle, type, t.toString(), t);
        }
    }

    boolean isDead() {
        return death != null;
    }

    boolean isListed() {
        return live && death == null;
    }

    /** Messages handled so far (a snapshot; see {@link #handled}). */
    long handledCount() {
        return handled;
    }

    /**
     * Messages waiting in the mailbox now (O(depth): the queue is walked), with the rest of the
     * {@link Arrivals} being handled: that rest is read without synchronisation, a snapshot for
     * metrics and listings.
     */
    int mailboxDepth() {
        Arrivals current = arrivals;
        int n = current != null ? Math.max(0, current.left()) : 0;
        for (Object m : mailbox) {
            n += m instanceof Arrivals a ? a.left() : 1;
        }
        return n;
    }

    /** Sends and calls made so far (a snapshot; see {@link #sent}). */
    long sentCount() {
        return sent;
    }

    ServiceInfo info() {
        return new ServiceInfo(handle, type, names, mailboxDepth(), handled, tags);
    }

    // ------------------------------------------------------------------ ServiceContext

    @Override
    public Handle self() {
        return handle;
    }

    @Override
    public NodeView node() {
        return node.view();
    }

    @Override
    public void send(Handle to, Object payload) {
        sent++;
        Message message = new Message(handle, payload);
        if (to.node() != node.id()) {
            Outbox o = openOutbox();
            if (o != null) {
                o.send(to, message);
                return;
            }
        } else {
            flushOutbox(); // a send to a service here goes after the sends made before it to other nodes
        }
        node.route(to, message);
    }

    /** This service's outbox, made on first use or when the transport changed; null while the node has none. */
    private Outbox openOutbox() {
        Outbox o = outbox;
        if (o != null && o.open()) {
            return o;
        }
        if (o != null) {
            o.flush(); // what its closed transport still holds fails there, counted
        }
        outbox = o = node.outbox();
        return o;
    }

    /**
     * Hands the sends this service holds for other nodes to the links: done before anything else it
     * does that another service can see (see {@link Outbox}). Any thread.
     */
    void flushOutbox() {
        Outbox o = outbox;
        if (o != null) {
            o.flush();
        }
    }

    @Override
    public void send(String name, Object payload) {
        send(node.resolve(name), payload);
    }

    @Override
    public Object call(Handle to, Object payload) {
        return call(to, payload, null);
    }

    @Override
    public Object call(String name, Object payload, Duration timeout) {
        return call(node.resolve(name), payload, timeout);
    }

    @Override
    public Object call(Handle to, Object payload, Duration timeout) {
        Suspended s = suspend("call");
        flushOutbox();
        // One call in CALL_SAMPLE is timed for the call-latency metric; timing every call would cost
        // two clock reads on the fast path.
        long start = (++sent & (CALL_SAMPLE - 1)) == 0 ? System.nanoTime() : 0;
        node.route(to, new Request(handle, to, payload, this, s.session));
        if (start == 0) {
            return await(s, timeout, to);
        }
        try {
            return await(s, timeout, to);
        } finally {
            node.callTimed(to, System.nanoTime() - start);
        }
    }

    @Override
    public Handle launch(ServiceFactory factory) {
        Suspended s = suspend("launch");
        flushOutbox();
        node.startService(factory, this, s.session);
        try {
            return (Handle) await(s, null, null);
        } catch (CallException e) {
            throw new LaunchException(e.getMessage(), e.getCause());
        }
    }

    /** Registers a waiting handler; the caller then sends its request and calls {@link #await}. */
    private Suspended suspend(String what) {
        if (Thread.currentThread() != owner) {
            throw new IllegalStateException("ServiceContext." + what + " for service " + handle
                    + " must run in that service's own handler or init; from another thread use Node." + what);
        }
        ExitReason dead = death;
        if (dead != null) {
            throw new ServiceExitedException(handle, dead);
        }
        Suspended s = new Suspended(Thread.currentThread(), ++nextSession);
        if (suspended == null) {
            suspended = new HashMap<>();
        }
        suspended.put(s.session, s);
        return s;
    }

    /** Lets the service run other handlers until the answer for {@code s} comes, then returns it. */
    private Object await(Suspended s, Duration timeout, Handle target) {
        Cancellable timer = null;
        if (timeout != null) {
            long session = s.session;
            timer = node.scheduleTimeout(() -> deliver(session, null, new CallException(CallException.Failure.TIMEOUT, target,
                    "call to " + target + " got no reply within " + timeout.toMillis() + " ms", null)), timeout);
        }
        Request mine = current;
        if (mine != null) {
            current = null;
            if (!mine.isAnswered()) {
                track(mine);
            }
        }
        if (reacquire()) {
            node.startRunner(this);
        }
        while (!s.resumed) {
            LockSupport.park(this);
        }
        owner = Thread.currentThread();
        if (timer != null) {
            timer.cancel();
        }
        if (s.exited) {
            throw new ServiceExitedException(handle, death);
        }
        CallException e = s.error;
        if (e != null) {
            // A fresh exception, so the stack trace shows this caller.
            throw new CallException(e.failure(), e.target(), e.exitReason(), e.getMessage(), e.getCause());
        }
        return s.value;
    }

    @Override
    public Cancellable after(Duration delay, Object payload) {
        Objects.requireNonNull(delay, "delay");
        Delayed d = new Delayed(this, payload);
        if (death != null) {
            d.drop();
            return d;
        }
        Set<Delayed> set = timers;
        if (set == null) {
            synchronized (this) {
                set = timers;
                if (set == null) {
                    timers = set = ConcurrentHashMap.newKeySet();
                }
            }
        }
        set.add(d);
        try {
            d.scheduled = node.scheduler().schedule(d, delay);
        } catch (RejectedExecutionException e) {
            d.drop(); // the node has stopped, so this service has ended or is about to
            return d;
        }
        if (death != null) { // died while this was being scheduled: its sweep may have missed it
            d.drop();
            d.unschedule();
        }
        return d;
    }

    /** The scheduler's thread: an {@link #after} message is due. */
    private void fire(Delayed d) {
        Set<Delayed> set = timers;
        if (set != null) {
            set.remove(d);
        }
        if (death == null) {
            enqueue(d); // a death meanwhile drops it silently (see reject)
        }
    }

    @Override
    public void register(String name) {
        flushOutbox();
        node.register(this, name);
    }

    @Override
    public void tag(String key, String value) {
        if (key == null || key.isBlank() || value == null || value.isBlank()) {
            throw new IllegalArgumentException("a tag needs a non-empty key and value, got '" + key + "' = '" + value + "'");
        }
        synchronized (this) {
            java.util.HashMap<String, String> next = new java.util.HashMap<>(tags);
            next.put(key, value);
            tags = Map.copyOf(next);
        }
    }

    @Override
    public Map<String, String> tags() {
        return tags;
    }

    @Override
    public void exit() {
        if (Thread.currentThread() == owner) {
            exitRequested = ExitReason.EXIT;
        } else {
            die(ExitReason.EXIT, "");
        }
    }

    @Override
    public boolean kill(Handle target) {
        flushOutbox();
        return node.kill(target);
    }

    @Override
    public void watch(Handle target) {
        flushOutbox();
        node.route(node.monitor(), new Message(handle, new Monitor.Watch(target, handle)));
    }

    @Override
    public String toString() {
        return "service " + handle + " (" + type + ")";
    }

    /** A handler waiting for an answer. Its fields are written before {@code resumed} and read after. */
    private static final class Suspended {
        final Thread thread;
        final long session;
        Object value;
        CallException error;
        boolean exited;
        volatile boolean resumed;

        Suspended(Thread thread, long session) {
            this.thread = thread;
            this.session = session;
        }
    }

    /**
     * A message of {@link #after}: scheduled ({@code WAITING}), then in the mailbox ({@code QUEUED}), then
     * taken by the runner that hands it to a handler ({@code TAKEN}); cancelled or dropped
     * ({@code CANCELLED}) from {@code WAITING} or {@code QUEUED}, so a cancel that returns true means no
     * handler ever sees it.
     */
    private static final class Delayed extends Message implements Cancellable, Runnable {
        private static final int WAITING = 0;
        private static final int QUEUED = 1;
        private static final int CANCELLED = 2;
        private static final int TAKEN = 3;
        private static final VarHandle STATE;

        static {
            try {
                STATE = MethodHandles.lookup().findVarHandle(Delayed.class, "state", int.class);
            } catch (ReflectiveOperationException e) {
                throw new ExceptionInInitializerError(e);
            }
        }

        private final ServiceCell cell;
        @SuppressWarnings("unused") // through STATE
        private volatile int state;
        /** The scheduler's handle; null until scheduled (a cancel before then leaves the task to find itself cancelled). */
        volatile Cancellable scheduled;

        Delayed(ServiceCell cell, Object payload) {
            super(cell.handle, payload);
            this.cell = cell;
        }

        /** The scheduler's thread: it is due. */
        @Override
        public void run() {
            if (STATE.compareAndSet(this, WAITING, QUEUED)) {
                cell.fire(this);
            }
        }

        /** The runner, about to hand it to a handler: false if it was cancelled meanwhile. */
        boolean take() {
            return STATE.compareAndSet(this, QUEUED, TAKEN);
        }

        @Override
        public boolean cancel() {
            if (STATE.compareAndSet(this, WAITING, CANCELLED)) {
                unschedule();
                return true;
            }
            return STATE.compareAndSet(this, QUEUED, CANCELLED);
        }

        /** Its service has ended (or the node stopped): it will not be delivered. */
        void drop() {
            if (STATE.compareAndSet(this, WAITING, CANCELLED)) {
                unschedule();
            }
        }

        void unschedule() {
            Cancellable s = scheduled;
            if (s != null) {
                s.cancel();
            }
            Set<Delayed> set = cell.timers;
            if (set != null) {
                set.remove(this);
            }
        }
    }

    /** Control: end the service once everything queued before this has been handled. */
    record StopAfterDrain(ExitReason reason, String detail) {
    }
}
