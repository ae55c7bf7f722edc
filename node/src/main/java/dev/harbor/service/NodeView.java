package dev.harbor.service;

import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * A node as its services see it: {@link ServiceContext#node()}. It holds what a service needs from its
 * node beyond its own {@link ServiceContext}: to send, call and launch from threads that are not its
 * handler's (a Netty event loop, a gRPC callback, a timer), where the context's waiting methods do not
 * work, and to look up global names and what the node's host provides.
 *
 * <p>It cannot stop, abort or close the node, start a new life, attach a transport, or read the exit
 * log: those belong to whoever runs the node ({@link Node}) and to the runtime itself
 * ({@link InternalNode}). The view a service gets is not the {@code Node} object, so a cast does not
 * reach them either. {@link Node} implements this interface, so code written against a view also takes a
 * node.
 *
 * <p>Every method may be called from any thread and none waits for a reply: each returns at once, with
 * a future where there is an answer to come.
 */
public interface NodeView {

    /**
     * Sends {@code payload} to {@code to}, fire-and-forget, as from outside any service
     * ({@link Message#from()} is null; use {@link ServiceContext#send} to send as the service). A send to
     * a service that is gone is dropped and counted.
     *
     * @throws CallException for a send to another node that its transport cannot take (its outbound
     *     queue is full, or the payload cannot cross nodes)
     */
    void send(Handle to, Object payload);

    /**
     * Calls {@code to} as from outside any service, without waiting: for threads that are not the
     * service's handler (inside one, {@link ServiceContext#call} suspends the handler instead).
     *
     * @param timeout how long to wait for the reply; null for no limit
     * @return the reply, or a {@link CallException} that says why there is none
     */
    CompletableFuture<Object> call(Handle to, Object payload, Duration timeout);

    /**
     * Launches a service without waiting for its init: for threads that are not the service's handler,
     * or a handler that must go on taking messages while the launch runs (inside one,
     * {@link ServiceContext#launch} suspends the handler instead).
     *
     * @return its handle after init, or a {@link LaunchException} (the node is stopping, or the factory
     *     or init threw)
     */
    CompletableFuture<Handle> launchAsync(ServiceFactory factory);

    /**
     * The service registered under {@code name} now, if any: names that start with {@code .} are local
     * to this node, the others global (held on any node of the cluster this node knows of).
     */
    Optional<Handle> whereis(String name);

    /**
     * What the node's host provides to its services under {@code type}, if anything (the node process
     * provides its Micrometer {@code MeterRegistry}, for instance). See {@link Node#provide}.
     */
    <T> Optional<T> lookup(Class<T> type);
}
