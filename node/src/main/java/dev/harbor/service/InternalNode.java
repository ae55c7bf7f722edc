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
     * Sends from another node to one service, left in the frame that carried them: one mailbox item,
     * which the service's thread reads send by send, making each send's {@link Message} (and decoding
     * its payload) when it takes it, so the link's reader makes no object per send. Made by a
     * transport's {@link FrameReader}; a service keeps its frame's bytes alive until it has taken
     * every send in it (so {@link RemoteSends} hands a frame over this way only if it held nothing
     * else).
     *
     * <p>Threading: made by the link's reader, then read by one thread at a time, which calls
     * {@link #advance}, {@link #from} and {@link #payload}, in that order, once per send: the service's
     * token holder, or whoever counts the sends of a service that has ended as dead letters. The
     * runtime publishes the object to that thread through its mailbox (a happens-before edge), so
     * fields written before it was handed over need no synchronisation.
     */
    public abstract static class FrameSends extends Arrivals {
        /** {@code count} sends, at least one. */
        protected FrameSends(int count) {
            super(count);
        }

        @Override
        final Message next() {
            advance();
            return new Message(from(), payload());
        }

        /** Moves to the next send (the first, on the first call). */
        protected abstract void advance();

        /** The service that sent the current send, or null if it was sent from outside any service. */
        protected abstract Handle from();

        /**
         * The current send's payload, decoded on the calling thread: an immutable value that does not
         * refer to the frame's bytes. Never throws: a transport leaves in their frame only payloads
         * that cannot fail to decode.
         */
        protected abstract Object payload();
    }

    /** Reads a transport's frames: the sends of a frame that {@link RemoteSends} gathered in one run. */
    @FunctionalInterface
    public interface FrameReader {
        /**
         * The {@code count} send records that lie one after another in {@code frame} from {@code start}
         * to {@code end}, each added with {@link RemoteSends#addInFrame}; {@code frame} never changes.
         */
        FrameSends sends(byte[] frame, int start, int end, int count);
    }

    /**
     * Sends from another node, gathered while one frame of its link is read: sends that come one after
     * another to the same service go into its mailbox as one item, in the order they came, so that a
     * frame costs a service one hand-over rather than one per message. A send to a service that is
     * gone, or to a handle of another node, is dropped and counted as a dead letter. Never blocks.
     *
     * <p>Sends left in their frame ({@link #addInFrame}) are made into messages, and their payloads
     * decoded, by the service's thread when it takes them, not by the link's reader, but only for a
     * frame that held nothing except sends to that one service: such a run keeps its whole frame in
     * memory until its last send is taken, and a frame shared with other services' traffic could then
     * be kept alive by one small message waiting in a slow service's mailbox. So a run handed over
     * while something else of the frame came before it or follows it is made into messages first, by
     * the reader.
     *
     * <p>Threading: one thread at a time (the link's reader). The caller {@linkplain #flush() flushes}
     * before it handles anything else of the frame (a call, a reply, a service update), and calls
     * {@link #endFrame()} at the frame's end, so nothing overtakes a send that came before it.
     */
    public static final class RemoteSends {
        private static final int MIN_CAPACITY = 16;
        private final Node node;
        private final FrameReader reader;
        private Handle to;
        /** Sends gathered as messages; {@code count} of them. Never at the same time as a run. */
        private Message[] messages = new Message[MIN_CAPACITY];
        private int count;
        /** Or sends gathered in their frame (a run): {@code runCount} records of {@code runFrame}, {@code runStart} to {@code runEnd}. */
        private byte[] runFrame;
        private int runStart;
        private int runEnd;
        private int runCount;
        /** Something besides the sends gathered now came in this frame: they are made into messages before they go. */
        private boolean shared;

        /** Gathers sends for {@code node}'s services; {@code reader} reads the frames of {@link #addInFrame}. */
        public RemoteSends(Node node, FrameReader reader) {
            this.node = node;
            this.reader = reader;
        }

        /** Adds a send from {@code from} (null if sent from outside any service) to {@code to}. */
        public void add(Handle from, Handle to, Object payload) {
            target(to);
            if (runCount > 0) {
                unrun(); // a decoded send after sends left in the frame: they all go as messages
            }
            addMessage(new Message(from, payload));
        }

        /**
         * Adds {@code sends} sends to {@code to} left in their frame, at least one: the records from
         * {@code start} to {@code end} of {@code frame}, one after another, which the {@link FrameReader}
         * reads, and which must never change afterwards.
         */
        public void addInFrame(Handle to, byte[] frame, int start, int end, int sends) {
            target(to);
            if (runCount > 0 && frame == runFrame && start == runEnd) {
                runEnd = end;
                runCount += sends;
                return;
            }
            if (runCount > 0) {
                unrun(); // not next to the run (a record between them was dropped as malformed): the run goes as messages
            }
            if (count > 0) { // after messages: these go as messages too
                addMessages(reader.sends(frame, start, end, sends));
                return;
            }
            runFrame = frame;
            runStart = start;
            runEnd = end;
            runCount = sends;
        }

        private void target(Handle to) {
            if ((count > 0 || runCount > 0) && !to.equals(this.to)) {
                flush();
            }
            this.to = to;
        }

        private void addMessage(Message message) {
            if (count == messages.length) {
                messages = java.util.Arrays.copyOf(messages, count * 2);
            }
            messages[count++] = message;
        }

        /** The run gathered, which this gatherer lets go of. */
        private Arrivals takeRun() {
            Arrivals run = reader.sends(runFrame, runStart, runEnd, runCount);
            runFrame = null;
            runCount = 0;
            return run;
        }

        /** The run's sends, made into messages on this thread. */
        private void unrun() {
            addMessages(takeRun());
        }

        /** Makes the sends {@code run} has left into messages, gathered after those before them. */
        private void addMessages(Arrivals run) {
            while (run.left() > 0) {
                addMessage(run.take());
            }
        }

        /** Hands what was gathered to its service as messages: something else of the frame comes next. */
        public void flush() {
            hand(true);
            shared = true;
        }

        /** The frame has ended: hands what was gathered to its service, left in the frame if the frame held nothing else. */
        public void endFrame() {
            hand(shared);
            shared = false;
        }

        private void hand(boolean asMessages) {
            Handle target = to;
            to = null;
            if (runCount > 0) {
                if (asMessages) {
                    unrun();
                } else {
                    node.deliverFromRemote(target, takeRun());
                    return;
                }
            }
            if (count == 0) {
                return;
            }
            int n = count;
            count = 0;
            if (n == 1) {
                node.deliverFromRemote(target, messages[0]);
                messages[0] = null; // a single send goes in alone: the array stays with this gatherer
                return;
            }
            Message[] handed = messages;
            messages = new Message[Math.max(MIN_CAPACITY, n)]; // the handed array now belongs to the mailbox
            node.deliverFromRemote(target, new Arrivals.Decoded(handed, n));
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
