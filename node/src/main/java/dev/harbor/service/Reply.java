package dev.harbor.service;

/** The answer to a call made by a handler, queued in the caller's own mailbox. */
record Reply(long session, Object value, CallException error) {
}
