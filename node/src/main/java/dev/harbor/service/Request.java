package dev.harbor.service;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A message whose sender waits for one answer. Whoever answers first wins; every later answer is
 * ignored, so the handler's return, a deferred reply, the callee's death and a timeout can race
 * safely.
 */
final class Request extends Message implements DeferredReply {
    private static final VarHandle ANSWERED;

    static {
        try {
            ANSWERED = MethodHandles.lookup().findVarHandle(Request.class, "answered", int.class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final ReplyTo replyTo;
    private final long session;
    private final Handle to;
    @SuppressWarnings("unused") // through ANSWERED
    private volatile int answered;
    /** Set by the handler's thread, read by the same thread after the handler returns. */
    boolean deferred;
    /**
     * The cell whose handler took this request, once one has: a reply given through {@link #defer()}
     * flushes its sends to other nodes first. Written by that handler's thread before the handler
     * runs, read by whoever replies: the handler, or a thread it handed the reply to, which that
     * hand-over orders after the write (a plain field for that reason).
     */
    ServiceCell handledBy;
    /** The cell that owes this answer once it is tracked there (deferred or suspended); else null. */
    volatile ServiceCell owedBy;

    Request(Handle from, Handle to, Object payload, ReplyTo replyTo, long session) {
        super(from, payload);
        this.to = to;
        this.replyTo = replyTo;
        this.session = session;
    }

    @Override
    public boolean isCall() {
        return true;
    }

    @Override
    public DeferredReply defer() {
        deferred = true;
        return this;
    }

    Handle to() {
        return to;
    }

    boolean isAnswered() {
        return answered != 0;
    }

    @Override
    public boolean reply(Object value) {
        flushHandlersSends();
        return answer(value, null);
    }

    @Override
    public boolean fail(String reason) {
        flushHandlersSends();
        return answer(null, new CallException(CallException.Failure.HANDLER_FAILED, to,
                "service " + to + " failed the call: " + reason, null));
    }

    @Override
    public boolean fail(CallException error) {
        flushHandlersSends();
        return answer(null, error);
    }

    /** A deferred answer goes after the sends its service made before it (see {@link Outbox}). */
    private void flushHandlersSends() {
        ServiceCell cell = handledBy;
        if (cell != null) {
            cell.flushOutbox();
        }
    }

    /** Answers once; returns false if an answer was already given. */
    boolean answer(Object value, CallException error) {
        if (!ANSWERED.compareAndSet(this, 0, 1)) {
            return false;
        }
        ServiceCell owner = owedBy;
        if (owner != null) {
            owner.forget(this);
        }
        replyTo.deliver(session, value, error);
        return true;
    }
}
