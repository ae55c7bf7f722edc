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
 */
@FunctionalInterface
public interface Service {

    /**
     * Runs once, on the service's own thread, before {@link Node#launch} returns. The service can call
     * other services, register names and send its handle around; messages that reach it meanwhile wait
     * until init has finished. If init throws, the launch fails with that error, the service is never
     * listed, and its one exit event says {@link dev.harbor.exit.ExitReason#INIT_FAILED}.
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
}
