package dev.harbor.service;

import java.util.List;

/**
 * Internal accessor, for use by Harbor's own runtime (the cluster transport, the admin API) and the
 * node process (its metrics) only; not an API: it may change in any release.
 *
 * <p>These are the {@link Node}'s hooks for the parts of the runtime that live in other packages. They
 * are not on {@code Node} itself so that an embedder's view of a node is what it needs to run one, and
 * nothing it could break the node with. {@code LayeringTest} fails the build if a package other than
 * {@code dev.harbor.service}, {@code transport}, {@code admin}, {@code cli} and
 * {@code metrics} uses this class.
 *
 * <p>Every method may be called from any thread unless it says otherwise.
 */
public final class InternalNode {
    private InternalNode() {
    }

    // ------------------------------------------------------------------ the cluster transport

    /**
     * Connects {@code node} to other nodes through {@code remote}: from now on messages for other
     * nodes' services go there, and global names are looked up and bound through it. Once per node.
     * From then on a stopping node leaves its {@link Node#scheduler()} running until
     * {@link #transportClosed} is called with the same {@code remote}.
     *
     * @throws IllegalStateException if a transport is attached already
     */
    public static void attach(Node node, Remote remote) {
        node.attach(remote);
    }

    /**
     * The transport {@code remote} attached to {@code node} has closed: it schedules nothing more on
     * the node's {@link Node#scheduler()}. If the node has stopped, its scheduler shuts down now;
     * otherwise when the node stops. Idempotent; does nothing for a {@code remote} that is not the one
     * attached.
     */
    public static void transportClosed(Node node, Remote remote) {
        node.transportClosed(remote);
    }

    /**
     * Publishes in {@code node}'s exit log that {@code service}, of another node, ended with its node:
     * {@code reason} is {@link ExitReason#NODE_LOST} (the transport declared that node lost) or
     * {@link ExitReason#NODE_STOPPED} (it left), {@code names} its global names, {@code detail} why.
     * The only exit events a node publishes about services that are not its own; returns the event.
     *
     * @throws IllegalArgumentException if {@code service} is one of {@code node}'s own
     */
    public static ExitEvent publishPeerExit(Node node, Handle service, List<String> names, ExitReason reason, String detail) {
        if (service.node() == node.id()) {
            throw new IllegalArgumentException("service " + service + " is node " + node.id() + "'s own: its exit event"
                    + " comes from its end, not from the transport");
        }
        return node.exits().publish(service, names, reason, detail);
    }

    /**
     * The global names the services of {@code node} hold now, services still in their init included,
     * by name: what a link's first frame tells the peer. A name taken in init is told at once to the
     * peers linked then; a peer linked after that, but before the service's init has returned, learns
     * it only from this (its holder is not listed among the live services until then).
     */
    public static java.util.Map<String, Handle> globalNames(Node node) {
        return node.globalNames();
    }

    /**
     * The first local id of {@code node}'s current life (its incarnation, as the transport announces it
     * and the admin API's exit stream reports it). Every handle the node gave out in an earlier life has
     * a lower id; it changes only through {@link #newLife}.
     */
    public static long firstIdOfThisLife(Node node) {
        return node.firstIdOfThisLife();
    }

    /**
     * Ends this life of {@code node} and starts a new one in the same process, for a transport whose
     * cluster has declared the current life lost. Every service of the old life, its monitor included,
     * ends with {@code reason} and {@code why} (one exit event each; everything it owes is answered
     * with an error); a new monitor starts and takes every later exit event; local ids from then on
     * are above every id given out before, so the old life's handles stay dead. The exit log and its
     * numbering carry on. The caller relaunches whatever the new life should run.
     *
     * <p>Order: the old services end first, their events reaching the old monitor (so its pending
     * watches are answered); then the new monitor starts; then the old monitor ends once it has handled
     * what it was sent, and the new one sees that exit too. One caller at a time (the transport's
     * new-life thread).
     *
     * @return the first local id of the new life (the node's new incarnation)
     * @throws IllegalStateException if the node is stopping or stopped
     * @throws LaunchException if the new monitor cannot start (the old one then goes on)
     */
    public static long newLife(Node node, ExitReason reason, String why) {
        return node.newLife(reason, why);
    }

    /**
     * Decodes payloads that a transport left in their wire form, which it can decode without failing
     * (see {@link RemoteSends#addUndecoded}): the first thread that reads the
     * {@linkplain Message#payload() payload} of such a message calls it. It must return an immutable,
     * non-null value, equal each time for the same bytes, so that two threads that read a payload at
     * once may both decode it, and must not keep {@code bytes}.
     */
    @FunctionalInterface
    public interface Decoder {
        /** The payload of kind {@code tag} whose wire form is {@code length} bytes of {@code bytes} from {@code offset}. Never throws. */
        Object decode(int tag, byte[] bytes, int offset, int length);
    }

    /**
     * Sends from another node, gathered while one frame of its link is read: sends that come one after
     * another to the same service go into its mailbox as one item, in the order they came, so that a
     * frame costs a service one hand-over rather than one per message. A send to a service that is
     * gone, or to a handle of another node, is dropped and counted as a dead letter. Never blocks.
     *
     * <p>Payloads in their wire form ({@link #addUndecoded}) are decoded by the service's thread when its
     * handler reads them, not by the link's reader, but only for a frame that held nothing except sends
     * to that one service: an undecoded payload keeps its whole frame in memory until it is read, and a
     * frame shared with other services' traffic could then be kept alive by one small message waiting
     * in a slow service's mailbox. So a group handed over while something else of the frame came before
     * it or follows it has its payloads decoded first, by the reader.
     *
     * <p>Threading: one thread at a time (the link's reader). The caller {@linkplain #flush() flushes}
     * before it handles anything else of the frame (a call, a reply, a service update), and calls
     * {@link #endFrame()} at the frame's end, so nothing overtakes a send that came before it.
     */
    public static final class RemoteSends {
        private static final int MIN_CAPACITY = 16;
        private final Node node;
        private Handle to;
        private Message[] messages = new Message[MIN_CAPACITY];
        private int count;
        /** Something besides the sends gathered now came in this frame: they are decoded before they go. */
        private boolean shared;

        public RemoteSends(Node node) {
            this.node = node;
        }

        /** Adds a send from {@code from} (null if sent from outside any service) to {@code to}. */
        public void add(Handle from, Handle to, Object payload) {
            put(to, new Message(from, payload));
        }

        /**
         * Adds a send from {@code from} (null if sent from outside any service) to {@code to} whose
         * payload is still in its wire form: {@code length} bytes of {@code bytes} from {@code offset},
         * of kind {@code tag}, which {@code decoder} decodes (see the class comment for which thread
         * does). The message keeps {@code bytes}, which must never change afterwards, until it is decoded.
         */
        public void addUndecoded(Handle from, Handle to, Decoder decoder, int tag, byte[] bytes, int offset, int length) {
            put(to, new Arrived(from, decoder, tag, bytes, offset, length));
        }

        private void put(Handle to, Message message) {
            if (count > 0 && !to.equals(this.to)) {
                flush();
            }
            if (count == messages.length) {
                messages = java.util.Arrays.copyOf(messages, count * 2);
            }
            this.to = to;
            messages[count++] = message;
        }

        /** Hands what was gathered to its service, decoded: something else of the frame comes next. */
        public void flush() {
            hand(true);
            shared = true;
        }

        /** The frame has ended: hands what was gathered to its service, undecoded if the frame held nothing else. */
        public void endFrame() {
            hand(shared);
            shared = false;
        }

        private void hand(boolean decode) {
            if (count == 0) {
                return;
            }
            Message[] handed = messages;
            int n = count;
            Handle target = to;
            count = 0;
            to = null;
            if (decode) {
                for (int i = 0; i < n; i++) {
                    handed[i].payload(); // an Arrived decodes and keeps the value; any other message has it already
                }
            }
            if (n > 1) {
                messages = new Message[Math.max(MIN_CAPACITY, n)]; // the handed array now belongs to the mailbox
            }
            node.deliverAllFromRemote(target, handed, n);
            if (n == 1) {
                handed[0] = null; // a single send goes in alone: the array stays with this gatherer
            }
        }
    }

    /**
     * Delivers a call that came from another node to {@code to}, a service of {@code node}. Its one
     * answer (the reply, or a {@link CallException} that says why there is none, {@code NO_SUCH_SERVICE}
     * for a handle of another node) goes to {@code replyTo} with {@code session}, on whichever thread
     * produces it. Never blocks.
     */
    public static void callFromRemote(Node node, Handle from, Handle to, Object payload, ReplyTo replyTo, long session) {
        node.callFromRemote(from, to, payload, replyTo, session);
    }

    // ------------------------------------------------------------------ metrics

    /**
     * Counts of a node's local traffic since it started, for metrics.
     *
     * @param sent sends and calls made by its services and from outside any service (to any node)
     * @param handled messages its services' handlers have taken
     * @param deadLetters sends dropped because their service was gone
     * @param failedCalls calls answered with an error because their service was gone or unreachable
     * @param mailboxDepth messages waiting in the mailboxes of the live services now
     * @param services live services now (the monitor included)
     */
    public record Traffic(long sent, long handled, long deadLetters, long failedCalls, long mailboxDepth, int services) {
    }

    /**
     * A snapshot of {@code node}'s {@link Traffic}: a pass over the live services, so O(services); meant
     * for a metrics scrape, not a hot path. Counts of live services are read without synchronisation
     * and may lag by a few messages; a service that ends during the pass may be counted twice or not at
     * all, so a reader that needs monotonic counters must keep the highest value it has seen.
     */
    public static Traffic traffic(Node node) {
        return node.traffic();
    }

    /** Receives the latency of sampled calls (one in {@value ServiceCell#CALL_SAMPLE} calls made by services). */
    @FunctionalInterface
    public interface CallTimer {
        /** A call to a service of this node ({@code remote} false) or of another node took {@code nanos}. */
        void record(boolean remote, long nanos);
    }

    /**
     * Sends {@code node}'s sampled call latencies to {@code timer} from now on, replacing the timer
     * before (a no-op one until the first call). The timer runs on service threads, in the middle of a
     * call, and must not block.
     */
    public static void timeCalls(Node node, CallTimer timer) {
        node.timeCalls(timer);
    }
}
