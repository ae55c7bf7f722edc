package dev.harbor.service;

/**
 * Where the answer to one request goes: a waiting handler's mailbox, a future, or (for a call from
 * another node) the link back to the caller's node. Called at most once per request, from any thread;
 * must not block.
 */
public interface ReplyTo {
    /** Delivers the answer to request {@code session}: a value, or an error when {@code error} is set. */
    void deliver(long session, Object value, CallException error);
}
