package dev.harbor.service;

/** Where the answer to one request goes: a waiting handler's mailbox, or a future. */
interface ReplyTo {
    /** Delivers the answer to request {@code session}: a value, or an error when {@code error} is set. */
    void deliver(long session, Object value, CallException error);
}
