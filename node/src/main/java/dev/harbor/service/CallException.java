package dev.harbor.service;


/** A call (or a send by name) that did not get a reply, and why. */
public class CallException extends RuntimeException {

    /** Why a call failed. */
    public enum Failure {
        /** The callee has exited; {@link #exitReason()} says how. */
        GONE,
        /** No service with that handle ever existed on its node. */
        NO_SUCH_SERVICE,
        /** No service is registered under that name. */
        NO_SUCH_NAME,
        /** The callee's handler threw, or it failed the deferred reply. */
        HANDLER_FAILED,
        /** No reply came within the call's timeout. */
        TIMEOUT,
        /** The callee's node was lost. */
        NODE_LOST,
        /** The callee's node is not reachable from here. */
        UNREACHABLE,
        /** The callee's node is stopping and takes no new work. */
        NODE_STOPPING,
        /** The queue towards the callee's node is full: the node or the link is slower than the senders. */
        OVERLOADED,
        /** The payload cannot cross nodes (only protobuf messages, byte strings and strings can). */
        BAD_PAYLOAD
    }

    private final Failure failure;
    private final transient Handle target;
    private final ExitReason exitReason;

    public CallException(Failure failure, Handle target, String message, Throwable cause) {
        this(failure, target, null, message, cause);
    }

    /** An error with the exit reason of a callee that is {@link Failure#GONE}. */
    public CallException(Failure failure, Handle target, ExitReason exitReason, String message, Throwable cause) {
        super(message, cause);
        this.failure = failure;
        this.target = target;
        this.exitReason = exitReason;
    }

    static CallException gone(Handle target, ExitReason reason) {
        return new CallException(Failure.GONE, target, reason, "service " + target + " is gone (" + reason + ")", null);
    }

    /** What kind of failure this is. */
    public Failure failure() {
        return failure;
    }

    /** The service that was called, if known. */
    public Handle target() {
        return target;
    }

    /** How the callee ended, for {@link Failure#GONE}; null otherwise or when no longer known. */
    public ExitReason exitReason() {
        return exitReason;
    }
}
