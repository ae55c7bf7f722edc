package dev.harbor.transport;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.harbor.proto.Envelope;
import dev.harbor.proto.NameBinding;
import dev.harbor.service.CallException;
import dev.harbor.service.ExitEvent;
import dev.harbor.service.ExitReason;
import dev.harbor.service.Handle;
import dev.harbor.service.Message;
import dev.harbor.service.Node;
import dev.harbor.wire.Wire;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Messages between this node's services and those of other nodes: sends and calls out onto a peer's
 * stream (or failed at once when the peer is not connected, lost or cut off), the calls in flight and
 * their answers, the replies to calls that came in, and what this node knows of other nodes' services
 * (live handles, global names) and tells them of its own (births, names, deaths, leaving).
 *
 * <p>State: owns the global names of other nodes' services ({@link #whereis}) and the counters of
 * messages sent, sends dropped and calls failed. The per-peer call state (sessions, calls outstanding,
 * replies waiting for the link, live services and their names) lives in each {@link Peer}.
 *
 * <p>Threading: sends and calls out come from service threads; replies, births, deaths and names
 * arrive on gRPC's event loops (through {@link LinkProtocol}); a verdict fails calls on the link timer
 * (the node's scheduler thread), a new life on its own thread, a leaving on an event loop. Everything here is a concurrent map or queue, a volatile or a counter: no lock.
 */
final class Routing {
    private static final Logger log = LoggerFactory.getLogger(Harbor.class);

    private final Harbor harbor;
    private final Node node;
    private final int outboundLimit;
    private final Map<String, Handle> remoteNames = new ConcurrentHashMap<>();
    /** Traffic counters, for metrics: added to by service threads (sent) and gRPC's event loops (the rest). */
    final LongAdder sent = new LongAdder();
    final LongAdder undeliverable = new LongAdder();
    final LongAdder failedCalls = new LongAdder();

    Routing(Harbor harbor) {
        this.harbor = harbor;
        this.node = harbor.node;
        this.outboundLimit = harbor.outboundLimit;
    }

    // ------------------------------------------------------------------ messages out

    /** {@link dev.harbor.service.Remote#route}: a send or call from a service of this node to one of another node. */
    void route(Handle to, Message message) {
        sent.increment();
        Outbound out = linkTo(to, message);
        if (out == null) {
            return;
        }
        Payloads.Encoded payload;
        try {
            payload = Payloads.encode(message.payload(), to);
        } catch (CallException e) {
            if (message.isCall()) {
                message.defer().fail(e);
                return;
            }
            throw e;
        }
        if (!message.isCall()) {
            if (!out.send(to, message.from(), payload)) {
                throw overloaded(to);
            }
            return;
        }
        Peer p = out.peer; // the life whose link it is (set before the link was handed out)
        long session = p.sessions.incrementAndGet();
        p.outstanding.put(session, message);
        if (p.lost) { // lost meanwhile: the loss may have failed the outstanding calls before this one was added
            failOutstanding(p, session, lostError(p, "it was lost"));
            return;
        }
        if (!out.call(to, message.from(), session, payload)) {
            failOutstanding(p, session, overloaded(to));
        }
    }

    /**
     * The stream to {@code to}'s node while that node is linked and not lost; else null, {@code message}
     * having been dealt with as {@linkplain #unreachable unreachable}.
     */
    Outbound linkTo(Handle to, Message message) {
        Peer p = harbor.membership.peer(to.node());
        Outbound out = p == null ? null : p.out;
        if (out == null || p.lost) {
            unreachable(to, message);
            return null;
        }
        return out;
    }

    /** {@code to}'s node is not connected: a call fails at once, a send is dropped and counted. */
    private void unreachable(Handle to, Message message) {
        CallException e = new CallException(CallException.Failure.UNREACHABLE, to,
                "node " + to.node() + " of service " + to + " is not connected to node " + node.id(), null);
        if (message.isCall()) {
            failedCalls.increment();
            message.defer().fail(e);
        } else {
            undeliverable.increment();
            log.debug("node {}: dropped a send to {}: {}", node.id(), to, e.getMessage());
        }
    }

    CallException overloaded(Handle to) {
        return new CallException(CallException.Failure.OVERLOADED, to, "the queue from node " + node.id() + " to node "
                + to.node() + " is full (" + outboundLimit + " envelopes): that node or the link is slower than its senders", null);
    }

    private void failOutstanding(Peer p, long session, CallException e) {
        Message m = p.outstanding.remove(session);
        if (m != null) {
            failedCalls.increment();
            m.defer().fail(e);
        }
    }

    /** Fails every call in flight from this node to {@code p} with {@code e}. */
    void failCallsTo(Peer p, CallException e) {
        for (Long session : new ArrayList<>(p.outstanding.keySet())) {
            failOutstanding(p, session, e);
        }
    }

    static CallException lostError(Peer p, String why) {
        return new CallException(CallException.Failure.NODE_LOST, null, "node " + p.id + " was lost: " + why, null);
    }

    /** Envelopes that never left: their calls fail now, rather than at the loss timeout. */
    void unsent(Outbound out, List<EnvelopeBatch> left) {
        Peer p = out.peer;
        for (EnvelopeBatch batch : left) {
            EnvelopeBatch.Reader r = EnvelopeBatch.reader(batch.toByteString());
            try {
                while (r.next()) {
                    if (r.kind() == EnvelopeBatch.CALL && p != null) {
                        failOutstanding(p, r.session(), new CallException(CallException.Failure.UNREACHABLE, r.to(),
                                "the link to node " + p.id + " closed before the call was sent", null));
                    } else if (r.kind() == EnvelopeBatch.SEND) {
                        undeliverable.increment();
                    }
                }
            } catch (InvalidProtocolBufferException e) {
                throw new IllegalStateException("node " + node.id() + " wrote a batch it cannot read back: " + e.getMessage(), e);
            }
        }
    }

    // ------------------------------------------------------------------ this node's services, told to every peer

    void serviceLive(Handle handle) {
        broadcast(Codec.born(handle));
    }

    void globalNameBound(String name, Handle handle) {
        broadcast(Codec.bound(name, handle));
    }

    /** Called by the exit log (under its lock: only enqueues) for every exit event of this node. */
    void onExit(ExitEvent event) {
        if (event.node() != node.id() || event.reason() == ExitReason.NODE_LOST) {
            return;
        }
        broadcast(Codec.died(event));
    }

    /** Queues {@code envelope} on every stream of this node to its peers, over their limits. */
    void broadcast(Envelope envelope) {
        byte[] bytes = envelope.toByteArray();
        for (Outbound out : harbor.dialler.outbounds()) {
            out.control(bytes);
        }
    }

    // ------------------------------------------------------------------ other nodes' services

    Optional<Handle> whereis(String globalName) {
        return Optional.ofNullable(remoteNames.get(globalName));
    }

    boolean isAlive(Handle handle) {
        Peer p = harbor.membership.peer(handle.node());
        return p != null && !p.lost && p.live.contains(handle);
    }

    /** A peer bound a global name to one of its services. gRPC's event loop. */
    void bound(Peer p, NameBinding b) {
        Handle h = Wire.handle(b.getHandle());
        if (h.node() != p.id) {
            log.warn("node {}: node {} announced name '{}' for {}, a service of another node; ignored", node.id(), p.id,
                    b.getName(), h);
            return;
        }
        Handle previous = remoteNames.putIfAbsent(b.getName(), h);
        if (previous != null && !previous.equals(h)) {
            log.warn("node {}: the global name '{}' is claimed by both {} and {}; it stays with {}", node.id(),
                    b.getName(), previous, h, previous);
            return;
        }
        p.namesOf.merge(h, List.of(b.getName()), (a, c) -> {
            List<String> all = new ArrayList<>(a);
            all.addAll(c);
            return List.copyOf(all);
        });
    }

    /** A service {@code h} of peer {@code p} ended, holding {@code names}. gRPC's event loop. */
    void died(Peer p, Handle h, List<String> names) {
        p.live.remove(h);
        p.namesOf.remove(h);
        for (String n : names) {
            remoteNames.remove(n, h);
        }
    }

    /** Forgets global name {@code name} if it is still bound to {@code h}. */
    void unbind(String name, Handle h) {
        remoteNames.remove(name, h);
    }

    /** Forgets every global name of other nodes (a new life learns them again). Timer thread. */
    void clearNames() {
        remoteNames.clear();
    }

    // ------------------------------------------------------------------ replies

    /** Sends the answer to a call that came from {@code p} back to it. */
    void reply(Peer p, long session, Object value, CallException error) {
        if (p.lost) {
            log.debug("node {}: dropped the reply to session {} of lost node {}", node.id(), session, p.id);
            return;
        }
        Payloads.Encoded encoded = null;
        if (error == null) {
            try {
                encoded = Payloads.encode(value, null);
            } catch (CallException e) {
                error = new CallException(CallException.Failure.BAD_PAYLOAD, null, "the reply " + e.getMessage(), null);
            }
        }
        Peer.Answer answer = new Peer.Answer(session, encoded, error == null ? null : Codec.callError(error).toByteArray());
        Outbound out = p.out;
        if (out != null && answer.offerTo(out)) {
            return;
        }
        // Our stream to the caller's node is not up (yet, or again): keep the reply until it is.
        p.waitingForLink.add(answer);
        out = p.out;
        if (out != null) {
            flushWaiting(p, out);
        }
    }

    /** Queues the replies that waited for our stream to {@code p} on {@code out}. */
    static void flushWaiting(Peer p, Outbound out) {
        Peer.Answer a;
        while ((a = p.waitingForLink.poll()) != null) {
            if (!a.offerTo(out)) {
                p.waitingForLink.add(a);
                return;
            }
        }
    }

    /** The answer from {@code p} to call {@code session} of this node: its value, else {@code error}. gRPC's event loop. */
    void answer(Peer p, long session, Object value, CallException error) {
        Message m = p.outstanding.remove(session);
        if (m == null) {
            return; // timed out before, or never ours
        }
        if (error != null) {
            m.defer().fail(error);
        } else {
            m.defer().reply(value);
        }
    }

    /** Why a call of this node fails when the reply from {@code p} does not parse. */
    static CallException badReply(Peer p, InvalidProtocolBufferException e) {
        return new CallException(CallException.Failure.BAD_PAYLOAD, null,
                "the reply from node " + p.id + " does not parse: " + e.getMessage(), null);
    }
}
