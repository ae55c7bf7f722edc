package dev.harbor.transport;

import com.google.protobuf.InvalidProtocolBufferException;
import dev.harbor.proto.Batch;
import dev.harbor.proto.Envelope;
import dev.harbor.proto.Hello;
import dev.harbor.proto.LinkFrame;
import dev.harbor.proto.NameBinding;
import dev.harbor.proto.Refusal;
import dev.harbor.service.CallException;
import dev.harbor.service.Handle;
import dev.harbor.service.InternalNode;
import dev.harbor.service.Node;
import dev.harbor.service.ReplyTo;
import dev.harbor.service.ServiceInfo;
import dev.harbor.wire.Wire;
import io.grpc.Status;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.util.concurrent.atomic.LongAdder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The frames that come in on a link, both ways: on a peer's link to this node ({@link Inbound}: its
 * Hello, then batches of envelopes and heartbeats, a refusal, its end) and on the response stream of
 * this node's own link to a peer ({@link #fromOutbound}: the peer's Hello, a refusal, heartbeats).
 * A Hello goes to {@link Membership#admit}; envelopes go to the node (sends and calls for its
 * services), to {@link Routing} (replies, births, deaths, names) or to {@link Membership} (leaving).
 * Also makes this node's own Hello.
 *
 * <p>State: owns the counters of messages received and frames or envelopes rejected; each
 * {@link Inbound} owns its stream's state (the peer once admitted, refused or self) and its
 * {@link LinkWriter}.
 *
 * <p>Threading: frames arrive one at a time per stream on gRPC's event loops (the server and
 * channels use the direct executor: handling a frame only enqueues into mailboxes and never blocks).
 */
final class LinkProtocol {
    private static final Logger log = LoggerFactory.getLogger(Harbor.class);

    private final Harbor harbor;
    private final Node node;
    private final Payloads payloads;
    /** Counters, for metrics: added to on gRPC's event loops. */
    final LongAdder received = new LongAdder();
    final LongAdder rejected = new LongAdder();

    LinkProtocol(Harbor harbor) {
        this.harbor = harbor;
        this.node = harbor.node;
        this.payloads = harbor.payloads;
    }

    /** The server side of a new link from a peer, answering on {@code responses}. */
    StreamObserver<LinkFrame> accept(ServerCallStreamObserver<LinkFrame> responses) {
        return new Inbound(responses);
    }

    /** This node's Hello: who it is, and (first frame of its own links) its live services and global names. */
    Hello hello(boolean withSnapshot) {
        Hello.Builder h = Hello.newBuilder().setCluster(harbor.cluster).setNode(node.id()).setWire(EnvelopeBatch.WIRE)
                .setIncarnation(harbor.membership.incarnation()).setAddress(harbor.advertise);
        if (withSnapshot) {
            for (ServiceInfo s : node.services()) {
                h.addServices(Wire.handle(s.handle()));
            }
            // From the name table, not from the live services: a service still in its init may hold a
            // name already, which no later broadcast repeats.
            InternalNode.globalNames(node).forEach((name, holder) ->
                    h.addNames(NameBinding.newBuilder().setName(name).setHandle(Wire.handle(holder))));
        }
        return h.build();
    }

    /** A frame on the response stream of one of our links: the peer's Hello, a refusal, or a heartbeat. */
    void fromOutbound(Outbound out, LinkFrame frame) {
        switch (frame.getKindCase()) {
            case HELLO -> {
                Hello h = frame.getHello();
                if (h.getNode() == node.id()) {
                    if (h.getIncarnation() == harbor.membership.incarnation()) {
                        harbor.dialler.isSelf(out.address);
                        out.cancel("this address is this node itself");
                    } else {
                        log.error("node {}: the node at {} also calls itself node {}: node ids must be unique in a cluster",
                                node.id(), out.address, h.getNode());
                        harbor.dialler.refusedBy(out, "node id clash");
                    }
                    return;
                }
                Peer p;
                try {
                    p = harbor.membership.admit(h, out.address);
                } catch (Membership.LinkRefused e) {
                    log.warn("node {}: not linking to {}: {}", node.id(), out.address, e.getMessage());
                    if (e.declaredLost) {
                        // It took our Hello before we saw its own: tell it, on this stream, that its life is
                        // over here (a cancel could drop the frame; a half-close sends it, then the stream ends).
                        // Not if its new life has dialled this node since this stream was made: the
                        // old life's Hello can be read after that, and says nothing of the new one.
                        harbor.dialler.retryLater(out);
                        out.refuse(LinkFrame.newBuilder().setRefusal(Refusal.newBuilder().setReason(e.getMessage())
                                .setDeclaredLost(true)).build());
                    } else if (e.inUse) {
                        harbor.dialler.refusedInUse(out, e.getMessage());
                    } else {
                        harbor.dialler.refusedBy(out, e.getMessage());
                    }
                    return;
                }
                harbor.dialler.linked(out);
                p.heard(harbor.nanoTime());
                out.peer = p;
                p.out = out;
                p.confirmed = true;
                Routing.flushWaiting(p, out);
                out.startDraining();
                log.info("node {}: linked to node {} at {}", node.id(), p.id, out.address);
            }
            case REFUSAL -> {
                Refusal r = frame.getRefusal();
                if (r.getInUse()) {
                    harbor.dialler.refusedAsInUse(out, r.getReason()); // logs, at ERROR once it persists
                    return;
                }
                harbor.dialler.refusedBy(out, r.getReason());
                if (r.getDeclaredLost()) {
                    if (out.life() != harbor.membership.incarnation()) {
                        // A verdict on an earlier life of this node: it says nothing of this life, whose
                        // dials must not wait for it. Read after the backoff is written (both volatile),
                        // so a new life whose incarnation is set as this runs either is seen here or
                        // resets the dials after the backoff.
                        harbor.dialler.dueNow(out.address);
                    }
                    harbor.membership.declaredLost(out.address, out.life(), r.getReason()); // an earlier life's: logged, nothing more
                } else if (r.getRenewing()) {
                    log.info("node {}: the node at {} is starting a new life: {}", node.id(), out.address, r.getReason());
                } else if (r.getLeaving()) {
                    log.info("node {}: not dialling {} again until it dials this node: {}", node.id(), out.address, r.getReason());
                    harbor.dialler.notUntilDialled(out.address);
                } else {
                    log.error("node {}: the node at {} refused this node's link: {}", node.id(), out.address, r.getReason());
                }
            }
            case HEARTBEAT -> {
                Peer p = out.peer;
                if (p != null) {
                    p.heard(harbor.nanoTime());
                }
            }
            default -> log.warn("node {}: unexpected {} frame from {} on this node's own link", node.id(),
                    frame.getKindCase(), out.address);
        }
    }

    /** The server side of a peer's link to this node. Frames arrive one at a time on gRPC's event loop. */
    private final class Inbound implements StreamObserver<LinkFrame> {
        /** The only writer of this link's response stream. */
        private final LinkWriter responses;
        private Peer peer;
        private boolean self;
        private boolean refused;
        private ReplyTo replyTo;
        /** This node's incarnation in the Hello it answered with: what the dialler's refusal, if any, is about. */
        private long life;
        /** Sends of the frame being read, handed to each service together (see {@link InternalNode.RemoteSends}). */
        private final InternalNode.RemoteSends sends = new InternalNode.RemoteSends(node, EnvelopeBatch.SENDS_IN_FRAME);

        Inbound(ServerCallStreamObserver<LinkFrame> responses) {
            this.responses = new LinkWriter(responses);
        }

        @Override
        public void onNext(LinkFrame frame) {
            if (refused || self) {
                return;
            }
            if (peer == null) {
                hello(frame);
                return;
            }
            if (frame.hasRefusal()) { // the dialler would not take our Hello: it declared this life lost
                if (frame.getRefusal().getDeclaredLost()) {
                    harbor.membership.declaredLost(peer.address, life, frame.getRefusal().getReason());
                }
                return;
            }
            if (peer.lost) {
                return;
            }
            peer.heard(harbor.nanoTime());
            switch (frame.getKindCase()) {
                case BATCH -> batch(frame.getBatch());
                case HEARTBEAT -> { }
                default -> refuse("a " + frame.getKindCase() + " frame after the Hello breaks the protocol");
            }
        }

        private void hello(LinkFrame frame) {
            if (!frame.hasHello()) {
                refuse("the first frame of a link must be a Hello, not " + frame.getKindCase());
                return;
            }
            Hello h = frame.getHello();
            if (harbor.closed || harbor.leaving) {
                refuse(LinkFrame.newBuilder().setRefusal(Refusal.newBuilder().setLeaving(true)
                        .setReason("node " + node.id() + " is leaving the cluster")).build());
                return;
            }
            if (harbor.membership.renewing()) {
                refuse(LinkFrame.newBuilder().setRefusal(Refusal.newBuilder().setRenewing(true)
                        .setReason("node " + node.id() + " is starting a new life; it dials back when it has")).build());
                return;
            }
            if (h.getNode() == node.id() && h.getIncarnation() == harbor.membership.incarnation()) {
                self = true; // this node dialled itself through one of its peer addresses
                responses.last(LinkFrame.newBuilder().setHello(LinkProtocol.this.hello(false)).build());
                return;
            }
            Peer p;
            try {
                p = harbor.membership.admit(h, h.getAddress());
            } catch (Membership.LinkRefused e) {
                log.warn("node {}: refused a link from {}: {}", node.id(), h.getAddress(), e.getMessage());
                refuse(e);
                return;
            }
            LinkWriter previous = p.inbound;
            if (p.inboundOpen && previous != null) {
                // The same life opened a new stream: it gave up on the old one (which may not have told
                // us yet). The new one replaces it rather than being refused for a while.
                log.info("node {}: node {} opened a new link; closing its previous one", node.id(), p.id);
                try {
                    previous.fail(Status.ABORTED.withDescription("replaced by a newer link from the same node"));
                } catch (RuntimeException e) {
                    log.debug("node {}: closing the replaced link from node {}: {}", node.id(), p.id, e.toString());
                }
            }
            for (dev.harbor.proto.Handle s : h.getServicesList()) {
                p.live.add(Wire.handle(s));
            }
            for (NameBinding b : h.getNamesList()) {
                harbor.routing.bound(p, b);
            }
            p.inbound = responses;
            p.inboundOpen = true;
            p.heard(harbor.nanoTime());
            peer = p;
            Peer answering = p;
            Routing routing = harbor.routing;
            replyTo = (session, value, error) -> routing.reply(answering, session, value, error);
            Hello ours = LinkProtocol.this.hello(false);
            life = ours.getIncarnation();
            responses.next(LinkFrame.newBuilder().setHello(ours).build());
            if (!p.address.isEmpty()) {
                harbor.dialler.dialledFrom(p.address);
            }
            if (p.out == null && !harbor.closed) {
                harbor.tickSoon(); // link back now rather than at the next round
            }
        }

        private void batch(Batch batch) {
            received.add(packed(EnvelopeBatch.reader(batch.getPacked())));
        }

        /** The records of a packed batch, in order; returns how many were sends and calls. */
        private int packed(EnvelopeBatch.Reader r) {
            int messages = 0;
            try {
                while (r.next()) {
                    if (r.kind() != EnvelopeBatch.SEND) {
                        sends.flush(); // the sends before this record reach their services first
                    }
                    try {
                        switch (r.kind()) {
                            case EnvelopeBatch.SEND -> {
                                messages++;
                                Handle from = r.from();
                                try {
                                    messages += r.sendTo(sends, from, payloads); // the sends it took along with this one
                                } catch (InvalidProtocolBufferException ex) {
                                    badSend(from, ex);
                                }
                            }
                            case EnvelopeBatch.CALL -> {
                                messages++;
                                Object payload;
                                try {
                                    payload = r.payload(payloads);
                                } catch (InvalidProtocolBufferException ex) {
                                    badCall(r.to(), r.session(), ex);
                                    continue;
                                }
                                InternalNode.callFromRemote(node, r.from(), r.to(), payload, replyTo, r.session());
                            }
                            case EnvelopeBatch.REPLY -> {
                                Object value = null;
                                CallException error = null;
                                try {
                                    value = r.payload(payloads);
                                } catch (InvalidProtocolBufferException ex) {
                                    error = Routing.badReply(peer, ex);
                                }
                                harbor.routing.answer(peer, r.session(), value, error);
                            }
                            case EnvelopeBatch.FAILURE -> {
                                CallException error;
                                try {
                                    error = Codec.callException(r.failure());
                                } catch (InvalidProtocolBufferException ex) {
                                    error = Routing.badReply(peer, ex);
                                }
                                harbor.routing.answer(peer, r.session(), null, error);
                            }
                            default -> envelope(r.control());
                        }
                    } catch (RuntimeException | InvalidProtocolBufferException ex) {
                        malformed(ex); // this record only: the next one starts where its length says
                    }
                }
            } catch (InvalidProtocolBufferException ex) {
                rejected.increment();
                log.warn("node {}: dropped the rest of a batch from node {} that does not parse: {}", node.id(), peer.id, ex.getMessage());
            } finally {
                sends.endFrame(); // the frame's last sends: nothing else of it is left to overtake them
            }
            return messages;
        }

        private void malformed(Exception ex) {
            rejected.increment();
            log.warn("node {}: dropped a malformed envelope from node {}: {}", node.id(), peer.id, ex.toString());
        }

        private void badSend(Handle from, InvalidProtocolBufferException ex) {
            rejected.increment();
            log.warn("node {}: dropped a send from {} with a payload that does not parse: {}", node.id(), from, ex.getMessage());
        }

        private void badCall(Handle to, long session, InvalidProtocolBufferException ex) {
            rejected.increment();
            replyTo.deliver(session, null, new CallException(CallException.Failure.BAD_PAYLOAD, to,
                    "the call's payload does not parse: " + ex.getMessage(), null));
        }

        /** A service update (a CONTROL record's envelope). */
        private void envelope(Envelope e) {
            switch (e.getKindCase()) {
                case BORN -> {
                    Handle h = Wire.handle(e.getBorn().getHandle());
                    if (h.node() != peer.id) {
                        throw new IllegalArgumentException("node " + peer.id + " announced the birth of " + h + ", a service of node " + h.node());
                    }
                    peer.live.add(h);
                }
                case DIED -> {
                    Handle h = Wire.handle(e.getDied().getHandle());
                    if (h.node() != peer.id) { // a peer speaks for its own services only
                        throw new IllegalArgumentException("node " + peer.id + " announced the death of " + h + ", a service of node " + h.node());
                    }
                    harbor.routing.died(peer, h, e.getDied().getNamesList());
                }
                case BOUND -> harbor.routing.bound(peer, e.getBound());
                case LEAVING -> harbor.membership.left(peer, e.getLeaving().getReason());
                case KIND_NOT_SET -> throw new IllegalArgumentException("an envelope of no kind");
            }
        }

        private void refuse(String why) {
            rejected(Refusal.newBuilder().setReason(why));
        }

        /** Refuses a Hello that membership did not admit, saying why and which kind of refusal it is. */
        private void refuse(Membership.LinkRefused e) {
            rejected(Refusal.newBuilder().setReason(e.getMessage()).setDeclaredLost(e.declaredLost).setInUse(e.inUse));
        }

        private void rejected(Refusal.Builder refusal) {
            rejected.increment();
            refuse(LinkFrame.newBuilder().setRefusal(refusal).build());
        }

        private void refuse(LinkFrame refusal) {
            refused = true;
            String why = refusal.getRefusal().getReason();
            try {
                responses.refuse(refusal, why);
            } catch (RuntimeException e) {
                log.debug("node {}: refusing a link: {}", node.id(), e.toString());
            }
        }

        @Override
        public void onError(Throwable t) {
            closedByPeer();
        }

        @Override
        public void onCompleted() {
            closedByPeer();
            try {
                responses.complete();
            } catch (RuntimeException e) {
                log.debug("node {}: completing a link: {}", node.id(), e.toString());
            }
        }

        private void closedByPeer() {
            Peer p = peer;
            if (p != null && p.inbound == responses) { // not if a newer stream has replaced this one
                p.inboundOpen = false;
            }
        }
    }
}
