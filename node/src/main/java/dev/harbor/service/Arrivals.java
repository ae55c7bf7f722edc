package dev.harbor.service;

/**
 * Sends that came from another node to one service, next to each other in one frame, put into its
 * mailbox as one item; the token holder takes them one by one, in the order they came
 * ({@link ServiceCell}), and a service that has ended counts each one it never took as a dead letter.
 * Either messages the link's reader made ({@link Decoded}) or sends still in their frame, each made
 * into a message by the thread that takes it ({@link InternalNode.FrameSends}).
 *
 * <p>Threading: made by the link's reader; from then on taken by one thread at a time (the token
 * holder, or the thread that counts the dead letters of a service that has ended: whoever took the
 * item from the mailbox, or held the token when the service died). {@link #left()} may be read by any
 * thread, without synchronisation, as a snapshot for metrics.
 */
abstract class Arrivals {
    private final int count;
    private int taken;

    Arrivals(int count) {
        this.count = count;
    }

    /** The next send; call only while {@link #left()} is above 0. */
    final Message take() {
        taken++;
        return next();
    }

    /** How many sends are still to be taken. */
    final int left() {
        return count - taken;
    }

    /** Counts each send still to be taken as a dead letter of {@code to}, a service of {@code node} that is gone. */
    final void deadLetters(Node node, Handle to) {
        while (left() > 0) {
            node.deadLetter(to, take());
        }
    }

    /** The next send, in the order they came; called once per send. */
    abstract Message next();

    /** Messages the link's reader made, the first {@code count} of {@code messages}; the array is the item's alone. */
    static final class Decoded extends Arrivals {
        private final Message[] messages;
        private int next;

        Decoded(Message[] messages, int count) {
            super(count);
            this.messages = messages;
        }

        @Override
        Message next() {
            return messages[next++];
        }
    }
}
