package dev.harbor.service;

/** Something scheduled that can still be called off: a call's timeout, a {@link ServiceContext#after} message. */
@FunctionalInterface
public interface Cancellable {

    /**
     * Calls it off. Idempotent, any thread.
     *
     * @return whether this call cancelled it; false if it was cancelled before or has already done its
     *     work (what that means exactly is said by whatever returned this handle)
     */
    boolean cancel();
}
