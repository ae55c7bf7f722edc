package dev.harbor.service;

import java.util.Optional;

/**
 * How a node reaches the services of other nodes. The cluster transport implements it and
 * {@linkplain InternalNode#attach attaches} it to its node; without one, a node is alone and everything
 * addressed to another node fails as {@link CallException.Failure#UNREACHABLE}.
 *
 * <p>Every method may be called from any thread, including service threads: implementations must
 * not block.
 */
public interface Remote {

    /**
     * Takes a message for a service of another node ({@code to.node()} is not this node's id). For a
     * call ({@link Message#isCall()}), the answer must reach the caller through
     * {@link Message#defer()}: the reply, or an error that says why there is none.
     *
     * @throws CallException for a send that cannot be taken (the outbound queue to that node is full,
     *     or the payload cannot cross nodes); the sender sees it
     */
    void route(Handle to, Message message);

    /**
     * A new outbox for one service's sends to services of other nodes (see {@link Outbox} for when it
     * is flushed). The default holds nothing: each send goes to {@link #route} at once.
     */
    default Outbox outbox() {
        return new Outbox() {
            @Override
            public void send(Handle to, Message message) {
                route(to, message);
            }

            @Override
            public void flush() {
            }

            @Override
            public boolean open() {
                return true;
            }
        };
    }

    /** The holder of a global name registered on another node, if any. */
    Optional<Handle> whereis(String globalName);

    /** Whether a service of another node is alive, as far as this node knows. */
    boolean isAlive(Handle handle);

    /** A service of this node has finished its init. */
    void serviceLive(Handle handle);

    /** A service of this node has taken a global name. */
    void globalNameBound(String name, Handle handle);

    /**
     * Why no service of this node may take a global name now, or null if it may: a node cut off from
     * the majority of its cluster takes none, so that a name meant to be held once (a writer's) is
     * never held on both sides of a partition.
     */
    default String refusesGlobalNames() {
        return null;
    }
}
