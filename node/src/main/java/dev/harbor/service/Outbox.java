package dev.harbor.service;

/**
 * One service's sends to services of other nodes, which the transport may hold for a moment so that
 * it hands them to a link together rather than one by one (see {@link Remote#outbox}).
 *
 * <p>Contract, which keeps every order the runtime promises: the service's cell {@linkplain #flush
 * flushes} its outbox whenever the service does anything other than send to another node (a call, a
 * send to a service of its own node, a launch, a name, a kill, a watch, an answer to a call), when a
 * handler or its init returns, and before its exit event is published (so an exit event never
 * overtakes a send made before it). The transport flushes an outbox whose sends have waited about a
 * millisecond, so a handler that blocks in the middle of its work (on a lock, on I/O, in a sleep)
 * delays the sends it made before by that much at most.
 *
 * <p>Threading: any thread. {@link #send} is called by the service's code; {@link #flush} by it, by
 * a thread that ends the service and by the transport's own timer.
 */
public interface Outbox {
    /**
     * Takes a send for {@code to}, a service of another node.
     *
     * @throws CallException as {@link Remote#route} does for a send that cannot be taken
     */
    void send(Handle to, Message message);

    /** Hands what is held to the links. Does not wait but for a link's queue lock. */
    void flush();

    /** False once the transport that made it has closed: the service then asks its node for a new one. */
    boolean open();
}
