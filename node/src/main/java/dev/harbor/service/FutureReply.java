package dev.harbor.service;

import java.util.concurrent.CompletableFuture;

/** The answer to a call made from outside any service: completes a future. */
final class FutureReply extends CompletableFuture<Object> implements ReplyTo {
    @Override
    public void deliver(long session, Object value, CallException error) {
        if (error != null) {
            completeExceptionally(error);
        } else {
            complete(value);
        }
    }
}
