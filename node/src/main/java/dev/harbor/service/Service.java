package dev.harbor.service;


/**
 * A lightweight service: code that handles messages one at a time.
 *
 * <p><b>Threading.</b> The runtime never runs two handlers of one service at the same time, so a
 * service's own fields need no locks. Handlers run on virtual threads: a handler that waits in
 * {@link ServiceContext#call} holds no OS thread, and while it waits the service goes on handling its
 * other messages; when the reply comes, the waiting handler resumes as soon as the service is free
 * again. Between the call and its return, other handlers may therefore have changed the service's
 * fields, exactly as with skynet's coroutines.
 *
 * <p><b>Errors.</b> A handler that throws answers its caller with an error
 * ({@link CallException.Failure#HANDLER_FAILED}); the service lives on.
 *
 * <p><b>Time and ending.</b> A service times its own work with {@link ServiceContext#after} (a
 * message to itself, later) and cleans up after itself in {@link #onEnd}, which runs however it ends.
 */
@FunctionalInterface
public interface Service {

    /**
     * Runs once, on the service's own thread, before {@link Node#launch} returns. The service can call
     * other services, register names and send its handle around; messages that reach it meanwhile wait
     * until init has finished. If init throws, the launch fails with that error, the service is never
     * listed, and its one exit event says {@link ExitReason#INIT_FAILED}.
     */
    default void init(ServiceContext context) throws Exception {
    }

    /**
     * Handles one message.
     *
     * @return for a call, the reply (unless the handler {@linkplain Message#defer() deferred} it);
     *     ignored for a plain send
     */
    Object receive(ServiceContext context, Message message) throws Exception;

    /**
     * The service's own clean-up (close a port, a connection; remove meters), run exactly once when it
     * ends, whatever the way: {@link ServiceContext#exit}, a kill, its node stopping or aborting, a new
     * life of its node, or its init throwing ({@code reason} is then {@link ExitReason#INIT_FAILED},
     * and the hook must cope with what init did not set up). It never runs for a service its factory
     * failed to make, and never while init runs.
     *
     * <p><b>When.</b> Once the service has ended (its names released, everything it owed answered with
     * an error, its {@link ServiceContext#after} messages dropped) and before its exit event is
     * published, so whoever learns of the end from the event ({@link Node#watch},
     * {@link ServiceContext#watch}, the exit stream) knows the hook has run. One exception: a service
     * ended while its init ran (killed, its node stopped) runs the hook as soon as init returns or
     * throws, after its event.
     *
     * <p><b>Which thread.</b> The thread that ended it: the service's own thread for
     * {@link ServiceContext#exit} called in a handler or init (once that handler or init has
     * returned); the killer's thread for {@link Node#kill}, or an exit called from elsewhere; the
     * thread in {@link Node#stop}, {@link Node#abort} or a new life of the node
     * ({@link InternalNode#newLife}); the init thread for a
     * service whose init threw or that ended during its init. So it may run while a handler of this
     * service is still running (a kill or a stop does not wait for a stuck handler): it must touch only
     * state that is safe to share with such a handler (volatile fields, thread-safe objects) and
     * fields init set (it sees init's writes). It delays whoever ended the service and the exit event
     * (a node's stop ends its services one after the other), so it must not block long: start an
     * asynchronous close rather than wait for it.
     *
     * <p>The context it gets belongs to a dead service: {@link ServiceContext#send} still works,
     * {@link ServiceContext#call} and {@link ServiceContext#launch} throw, {@link ServiceContext#after}
     * is dropped. An exception it throws is logged and otherwise ignored.
     */
    default void onEnd(ServiceContext context, ExitReason reason) {
    }
}
