package dev.harbor.service;

/**
 * A send that came from another node with a payload still in its wire form ({@link InternalNode.Undecoded}),
 * decoded by the first thread that reads it: the service's own, in practice, rather than the link's
 * reader, which then only walks the frame.
 *
 * <p>Threading: {@link #payload} holds the {@code Undecoded} until the first read replaces it with the
 * value. Two threads reading at once (the service, and one logging a dead letter) may both decode; they
 * get equal immutable values, and a value read through the racy field is safe to use: the payloads that
 * cross nodes (strings, byte strings) are immutable objects whose fields are final.
 */
final class Arrived extends Message {
    private Object payload;

    Arrived(Handle from, InternalNode.Undecoded payload) {
        super(from, null);
        this.payload = payload;
    }

    @Override
    public Object payload() {
        Object p = payload;
        if (p instanceof InternalNode.Undecoded u) {
            p = u.decode();
            payload = p;
        }
        return p;
    }
}
