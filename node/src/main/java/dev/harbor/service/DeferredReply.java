package dev.harbor.service;

/**
 * A reply a handler promised to send later (see {@link Message#defer()}). Exactly one answer reaches
 * the caller: the first of {@link #reply}, {@link #fail}, or the error sent when the service exits.
 * Thread-safe: complete it from any handler or thread.
 */
public interface DeferredReply {

    /** Sends {@code value} as the reply. Returns false if the caller had already been answered. */
    boolean reply(Object value);

    /** Answers the caller with an error that carries {@code reason}. Returns false if already answered. */
    boolean fail(String reason);

    /** Answers the caller with {@code error}. Returns false if already answered. */
    boolean fail(CallException error);
}
