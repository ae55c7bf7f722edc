package dev.harbor.service;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;

/**
 * A send that came from another node with its payload still in its wire form: {@code length} bytes of
 * a frame's {@code bytes} from {@code offset}, which {@link #decoder} turns into the value. The first
 * thread that reads the payload decodes it: the service's own, in practice, rather than the link's
 * reader, which then only walks the frame. One object per send: the message is its own undecoded form.
 *
 * <p>Threading: {@link #value} is null until the first read decodes it (a deferred payload is text or a
 * byte string, never null); that read then drops the frame's bytes, so a message a service keeps does
 * not keep its frame. Two threads reading at once (the service, and one logging a dead letter) may both
 * decode; they get equal immutable values. The value is written before the bytes are dropped (a release
 * store) and a reader that finds them dropped reads the value after (an acquire load), so it sees it;
 * a value read through the racy field is safe to use: the payloads that cross nodes (strings, byte
 * strings) are immutable objects whose fields are final.
 */
final class Arrived extends Message {
    private static final VarHandle BYTES;

    static {
        try {
            BYTES = MethodHandles.lookup().findVarHandle(Arrived.class, "bytes", byte[].class);
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final InternalNode.Decoder decoder;
    private final int tag;
    private final int offset;
    private final int length;
    /** The frame's bytes until the payload is decoded; never changed otherwise. */
    @SuppressWarnings("unused") // through BYTES
    private byte[] bytes;
    private Object value;

    Arrived(Handle from, InternalNode.Decoder decoder, int tag, byte[] bytes, int offset, int length) {
        super(from, null);
        this.decoder = decoder;
        this.tag = tag;
        this.bytes = bytes;
        this.offset = offset;
        this.length = length;
    }

    @Override
    public Object payload() {
        Object v = value;
        if (v != null) {
            return v;
        }
        byte[] b = (byte[]) BYTES.getAcquire(this);
        if (b == null) {
            return value; // decoded by another thread, which wrote the value before it dropped the bytes
        }
        v = decoder.decode(tag, b, offset, length);
        value = v;
        BYTES.setRelease(this, null);
        return v;
    }
}
