package dev.harbor.service;

import java.time.Duration;

/**
 * What a service can do, handed to its {@link Service#init} and to every handler.
 *
 * <p>The methods that wait ({@link #call}, {@link #launch}) must be called from the service's own
 * handler or init: they suspend that handler, not an OS thread, and let the service handle other
 * messages meanwhile. Called from any other thread they throw {@link IllegalStateException}; use
 * {@link NodeView#call} and {@link NodeView#launchAsync} of {@link #node()} there. The other methods may be called from anywhere.
 */
public interface ServiceContext {

    /** This service's handle. */
    Handle self();

    /**
     * The node this service runs on, as its services see it: sends, calls and launches that do not wait
     * (for threads other than this service's handler), global names, and what the node's host provides.
     * Not the {@link Node}: a service cannot stop, abort or close its node, or start a new life, through
     * it.
     */
    NodeView node();

    /** Sends {@code payload} to {@code to}, fire-and-forget. A send to a service that is gone is dropped and counted. */
    void send(Handle to, Object payload);

    /**
     * Sends to the service registered under {@code name} (see {@link #register}).
     *
     * @throws CallException with {@link CallException.Failure#NO_SUCH_NAME} if nothing has that name
     */
    void send(String name, Object payload);

    /** Calls {@code to} and waits for its reply, without a time limit. */
    Object call(Handle to, Object payload);

    /**
     * Calls {@code to} and waits at most {@code timeout} for its reply.
     *
     * @return the reply
     * @throws CallException if the callee is gone or goes away, its handler throws, or time runs out
     * @throws ServiceExitedException if this service is ended while it waits
     */
    Object call(Handle to, Object payload, Duration timeout);

    /** Calls the service registered under {@code name}, waiting at most {@code timeout} (null: no limit). */
    Object call(String name, Object payload, Duration timeout);

    /**
     * Launches a new service and waits until its init has finished.
     *
     * @throws LaunchException if its init fails
     */
    Handle launch(ServiceFactory factory);

    /**
     * Sends {@code payload} to this service itself, {@code delay} from now, on the node's
     * {@link Scheduler}: the service's own timer (a retry, a grace period, a step's timeout). May be
     * called from any thread, like {@link #send}.
     *
     * <p><b>Delivery.</b> When the delay has passed on the node's scheduler, the payload is put in this
     * service's mailbox as an ordinary send from itself ({@link Message#from()} is {@link #self()},
     * {@link Message#isCall()} false), behind every message already there; its handler then runs on
     * the service's own thread like any other. It is never handed over before its time (a zero or
     * negative delay: as soon as the scheduler gets to it). Messages of {@code after} are put in the
     * mailbox in the order they fall due, those due at the same moment in the order {@code after} was
     * called; a message that others send meanwhile may come before or after, as the mailbox receives it.
     *
     * <p><b>Ending.</b> If this service has ended by then (any way: exit, kill, its node stopping or
     * aborting, a new life), the payload is dropped silently (it is no dead letter): the service's
     * end drops every {@code after} message still to come, and one already in the mailbox goes with
     * the rest of it. Once the node has stopped, {@code after} does nothing.
     *
     * @param delay how long from now; not null
     * @param payload what the service gets, as with {@link #send}: immutable
     * @return a handle whose {@link Cancellable#cancel()} calls it off: true if no handler will ever be
     *     given it (it was not due yet, or is due and waits in the mailbox); false if a handler has
     *     been given it already, or it was cancelled or dropped before
     */
    Cancellable after(Duration delay, Object payload);

    /**
     * Gives this service a name. A name that starts with {@code .} is local to this node; any other
     * name is global. Names are released when the service exits.
     *
     * @throws IllegalArgumentException if the name is empty or taken
     */
    void register(String name);

    /**
     * Sets a tag on this service: a key and value that the node lists with it ({@link ServiceInfo#tags()}),
     * for whoever manages services. The runtime gives tags no meaning; the shutdown coordinator reads
     * the ones its registration helper sets. Keys and values are non-empty text.
     */
    void tag(String key, String value);

    /** This service's tags. */
    java.util.Map<String, String> tags();

    /**
     * Ends this service once the current handler returns (its reply, if any, is still sent). Everything
     * else it owes or has queued is answered with an error; its exit event says {@code EXIT}. Its
     * {@link Service#onEnd} hook then runs.
     */
    void exit();

    /** Ends another service at once; see {@link Node#kill}. */
    boolean kill(Handle target);

    /**
     * Asks the node's monitor to send this service the {@link ExitEvent} of
     * {@code target} when it exits; at once if it has exited already.
     */
    void watch(Handle target);
}
