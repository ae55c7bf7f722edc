package dev.harbor.transport;

import com.google.protobuf.ByteOutput;
import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;
import dev.harbor.proto.CallError;
import dev.harbor.proto.Envelope;
import dev.harbor.service.Handle;
import dev.harbor.service.InternalNode;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A batch of envelopes in the link's flat wire form ({@code Batch.packed}, laid out in
 * {@code harbor/v1/transport.proto}): what a node's stream to a peer carries. Handles and sessions are
 * fixed-width fields and a payload is its own bytes, so writing a send is a few stores and a copy, and
 * reading one makes no protobuf message.
 *
 * <p>Public so that a tool that speaks Harbor's link (the benchmarks' bare gRPC stream, the hostile-input
 * tests) writes and reads the very bytes a node does; services never need it. A node states the format in
 * its Hello ({@link #WIRE}) and refuses a peer that states another.
 *
 * <p>Writing: append records, then take {@link #toByteString()}. A batch is not thread-safe: it has one
 * writer at a time (a node's stream to a peer writes its batches under its own lock), and is not
 * written to once its bytes are taken.
 */
public final class EnvelopeBatch {
    /** The wire format a node states in its Hello ({@code Hello.wire}): this form of batch. */
    public static final int WIRE = 2;

    static final int SEND = 1;
    static final int CALL = 2;
    static final int REPLY = 3;
    static final int FAILURE = 4;
    static final int CONTROL = 5;

    private static final VarHandle INT = MethodHandles.byteArrayViewVarHandle(int[].class, ByteOrder.LITTLE_ENDIAN);
    private static final VarHandle LONG = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);
    /** The largest record head: kind, two handles, a session, a payload tag and a length. */
    private static final int HEAD = 1 + 12 + 12 + 8 + 1 + 5;
    /** A send record's head up to its payload's length: kind, two handles and a payload tag. */
    private static final int SEND_HEAD = 1 + 12 + 12 + 1;

    private byte[] bytes;
    private int size;
    private int count;

    /** An empty batch. */
    public EnvelopeBatch() {
        this(1024);
    }

    EnvelopeBatch(int capacity) {
        this.bytes = new byte[capacity];
    }

    /**
     * Appends a send of {@code payload} to {@code to}.
     *
     * @param from the sending service, or null for a send from outside any service
     * @throws dev.harbor.service.CallException with {@code BAD_PAYLOAD} for a payload that cannot cross nodes
     */
    public EnvelopeBatch send(Handle to, Handle from, Object payload) {
        return send(to, from, Payloads.encode(payload, to));
    }

    EnvelopeBatch send(Handle to, Handle from, Payloads.Encoded payload) {
        room(payload.bytes().length);
        bytes[size++] = SEND;
        handle(to);
        handle(from);
        payload(payload);
        return this;
    }

    /**
     * Appends a call of {@code to} under {@code session} (the sender's own number, which the answer
     * carries back).
     *
     * @throws dev.harbor.service.CallException with {@code BAD_PAYLOAD} for a payload that cannot cross nodes
     */
    public EnvelopeBatch call(Handle to, Handle from, long session, Object payload) {
        return call(to, from, session, Payloads.encode(payload, to));
    }

    EnvelopeBatch call(Handle to, Handle from, long session, Payloads.Encoded payload) {
        room(payload.bytes().length);
        bytes[size++] = CALL;
        handle(to);
        handle(from);
        fixed64(session);
        payload(payload);
        return this;
    }

    /**
     * Appends the answer {@code value} to the receiver's call {@code session}.
     *
     * @throws dev.harbor.service.CallException with {@code BAD_PAYLOAD} for a value that cannot cross nodes
     */
    public EnvelopeBatch reply(long session, Object value) {
        return reply(session, Payloads.encode(value, null));
    }

    EnvelopeBatch reply(long session, Payloads.Encoded payload) {
        room(payload.bytes().length);
        bytes[size++] = REPLY;
        fixed64(session);
        payload(payload);
        return this;
    }

    EnvelopeBatch failure(long session, byte[] callError) {
        room(callError.length);
        bytes[size++] = FAILURE;
        fixed64(session);
        body(callError);
        return this;
    }

    /** Appends a service update (a birth, a death, a name, a leaving). */
    public EnvelopeBatch control(Envelope envelope) {
        return control(envelope.toByteArray());
    }

    EnvelopeBatch control(byte[] envelope) {
        room(envelope.length);
        bytes[size++] = CONTROL;
        body(envelope);
        return this;
    }

    /** Appends every record of {@code other}, in its order. */
    void append(EnvelopeBatch other) {
        int need = size + other.size;
        if (need > bytes.length) {
            bytes = Arrays.copyOf(bytes, Math.max(need, bytes.length * 2));
        }
        System.arraycopy(other.bytes, 0, bytes, size, other.size);
        size = need;
        count += other.count;
    }

    /** How many records the batch holds. */
    public int count() {
        return count;
    }

    /** How many bytes the batch takes. */
    public int size() {
        return size;
    }

    /** The batch's bytes, without a copy: nothing may be appended afterwards. */
    public ByteString toByteString() {
        return UnsafeByteOperations.unsafeWrap(bytes, 0, size);
    }

    private void room(int body) {
        count++;
        int need = size + HEAD + body;
        if (need > bytes.length) {
            bytes = Arrays.copyOf(bytes, Math.max(need, bytes.length * 2));
        }
    }

    private void handle(Handle h) {
        INT.set(bytes, size, h == null ? 0 : h.node());
        LONG.set(bytes, size + 4, h == null ? 0L : h.id());
        size += 12;
    }

    private void fixed64(long v) {
        LONG.set(bytes, size, v);
        size += 8;
    }

    private void payload(Payloads.Encoded p) {
        bytes[size++] = (byte) p.tag();
        body(p.bytes());
    }

    private void body(byte[] b) {
        int n = b.length;
        while ((n & ~0x7F) != 0) {
            bytes[size++] = (byte) ((n & 0x7F) | 0x80);
            n >>>= 7;
        }
        bytes[size++] = (byte) n;
        System.arraycopy(b, 0, bytes, size, b.length);
        size += b.length;
    }

    /** A reader of the records in {@code packed}, from the first. It reads {@code packed}'s own bytes, without a copy when they are in one piece. */
    public static Reader reader(ByteString packed) {
        Piece piece = Piece.of(packed);
        return piece.pieces == 1 ? new Reader(piece.bytes, piece.offset, piece.offset + piece.length)
                : new Reader(packed.toByteArray(), 0, packed.size());
    }

    /**
     * Where a ByteString holds its bytes: {@code bytes} from {@code offset} for {@code length}, when
     * {@code pieces} is 1 (one array, which the caller only reads); anything else means the caller copies.
     */
    static final class Piece extends ByteOutput {
        byte[] bytes;
        int offset;
        int length;
        int pieces;

        /** Where {@code s} holds its bytes. */
        static Piece of(ByteString s) {
            Piece piece = new Piece();
            try {
                UnsafeByteOperations.unsafeWriteTo(s, piece);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e); // Piece never throws
            }
            return piece;
        }

        @Override
        public void write(byte value) {
            pieces = 2; // not one array: the caller copies
        }

        @Override
        public void write(byte[] value, int offset, int length) {
            pieces = 2; // an array the caller may reuse: it must be copied
        }

        @Override
        public void writeLazy(byte[] value, int offset, int length) {
            this.bytes = value;
            this.offset = offset;
            this.length = length;
            pieces++;
        }

        @Override
        public void write(ByteBuffer value) {
            pieces = 2;
        }

        @Override
        public void writeLazy(ByteBuffer value) {
            pieces = 2;
        }
    }

    /**
     * Reads the sends that {@link Reader#sendTo} left in their batch, on the thread that takes them:
     * records that the link's reader has parsed already, each a send to the same service with a
     * payload of a kind {@link Payloads#decodesLater}.
     */
    static final InternalNode.FrameReader SENDS_IN_FRAME = SendsInFrame::new;

    /** See {@link #SENDS_IN_FRAME}. Threading: that of {@link InternalNode.FrameSends}. */
    private static final class SendsInFrame extends InternalNode.FrameSends {
        private final Reader r;

        SendsInFrame(byte[] frame, int start, int end, int count) {
            super(count);
            r = new Reader(frame, start, end);
        }

        @Override
        protected void advance() {
            try {
                if (r.next() && r.kind == SEND) {
                    return;
                }
            } catch (InvalidProtocolBufferException e) {
                throw new IllegalStateException("a send that parsed on the link's reader no longer parses: " + e.getMessage(), e);
            }
            throw new IllegalStateException("a run of sends left in its frame holds fewer sends than it was given");
        }

        @Override
        protected Handle from() {
            return r.from();
        }

        @Override
        protected Object payload() {
            return Payloads.plain(r.tag, r.b, r.bodyAt, r.bodyLength);
        }
    }

    /**
     * The records of a batch, one at a time: {@link #next()} moves to a record and reads its head;
     * a record's payload (or its error, or its control envelope) is read only if asked for. Not
     * thread-safe.
     */
    public static final class Reader {
        private final byte[] b;
        private final int start;
        private final int end;
        private int pos;
        /** Where the current record starts. */
        private int recordAt;
        private int kind;
        private int toNode;
        private long toId;
        private int fromNode;
        private long fromId;
        private long session;
        private int tag;
        private int bodyAt;
        private int bodyLength;
        /**
         * The handles {@link #to()} and {@link #from()} gave last: the records of a batch mostly name
         * the same few services, and a handle is a value, so one object serves them all.
         */
        private Handle lastTo;
        private Handle lastFrom;

        private Reader(byte[] bytes, int from, int end) {
            this.b = bytes;
            this.start = from;
            this.pos = from;
            this.end = end;
        }

        /**
         * Moves to the next record.
         *
         * @return false at the end of the batch
         * @throws InvalidProtocolBufferException if the bytes are not a batch (truncated, or a kind no
         *     node writes); nothing after that point can be read
         */
        public boolean next() throws InvalidProtocolBufferException {
            if (pos == end) {
                return false;
            }
            recordAt = pos;
            kind = b[pos++];
            tag = -1;
            session = 0;
            toNode = fromNode = 0;
            toId = fromId = 0;
            switch (kind) {
                case SEND, CALL -> {
                    need(24);
                    toNode = (int) INT.get(b, pos);
                    toId = (long) LONG.get(b, pos + 4);
                    fromNode = (int) INT.get(b, pos + 12);
                    fromId = (long) LONG.get(b, pos + 16);
                    pos += 24;
                    if (kind == CALL) {
                        session = readFixed64();
                    }
                    need(1);
                    tag = b[pos++];
                }
                case REPLY -> {
                    session = readFixed64();
                    need(1);
                    tag = b[pos++];
                }
                case FAILURE -> session = readFixed64();
                case CONTROL -> { }
                default -> throw new InvalidProtocolBufferException("a record of unknown kind " + kind + " at byte " + (pos - 1 - start));
            }
            bodyLength = readLength();
            bodyAt = pos;
            pos += bodyLength;
            return true;
        }

        /** The record's kind: {@code SEND}, {@code CALL}, {@code REPLY}, {@code FAILURE} or {@code CONTROL}. */
        int kind() {
            return kind;
        }

        /** Whether the record is a send (as opposed to a call, a reply or a service update). */
        public boolean isSend() {
            return kind == SEND;
        }

        /**
         * The service a send or call is for.
         *
         * @throws IllegalArgumentException if the record names no valid handle
         */
        public Handle to() {
            Handle h = lastTo;
            if (h == null || h.id() != toId || h.node() != toNode) {
                lastTo = h = Handle.of(toNode, toId);
            }
            return h;
        }

        /**
         * The service a send or call comes from, or null when it was sent from outside any service.
         *
         * @throws IllegalArgumentException if the record names an invalid handle
         */
        public Handle from() {
            if (fromNode == 0 && fromId == 0) {
                return null;
            }
            Handle h = lastFrom;
            if (h == null || h.id() != fromId || h.node() != fromNode) {
                lastFrom = h = Handle.of(fromNode, fromId);
            }
            return h;
        }

        /** The session of a call, a reply or a failure. */
        long session() {
            return session;
        }

        /**
         * The payload of a send, a call or a reply, as the value a service receives.
         *
         * @throws InvalidProtocolBufferException if its bytes do not parse as what its tag says
         */
        public Object payload(Payloads payloads) throws InvalidProtocolBufferException {
            return payloads.decode(tag, b, bodyAt, bodyLength);
        }

        /**
         * The payload's bytes in their wire form (UTF-8 for a text payload), as a buffer over the batch's
         * own array from the payload's first byte to its last: for a reader that decodes the payload later,
         * on another thread, as this node's services do. The array is shared: read it, never write it.
         */
        public ByteBuffer payloadBytes() {
            return ByteBuffer.wrap(b, bodyAt, bodyLength);
        }

        /**
         * Adds this record, a send from {@code from}, to {@code sends}: a text or byte-string payload
         * left in this batch's bytes (a ByteString's, which never change), the whole record with it,
         * for whoever takes the send to read ({@link Payloads#decodesLater}, {@link EnvelopeBatch#SENDS_IN_FRAME});
         * any other decoded now. A send left in the batch takes the sends right after it that could be
         * left there too along with it, as one run ({@link #passSendsLikeThis}): the next record read is
         * the first after them.
         *
         * @return how many sends it took along with this one (a caller that counts sends adds them)
         * @throws InvalidProtocolBufferException if its bytes do not parse as what its tag says
         */
        int sendTo(InternalNode.RemoteSends sends, Handle from, Payloads payloads) throws InvalidProtocolBufferException {
            if (!Payloads.decodesLater(tag)) {
                sends.add(from, to(), payloads.decode(tag, b, bodyAt, bodyLength));
                return 0;
            }
            Handle to = to(); // first: a handle out of range fails this record alone, the reader still on it
            int at = recordAt;
            int more = passSendsLikeThis();
            sends.addInFrame(to, b, at, pos, 1 + more);
            return more;
        }

        /**
         * Moves past the records right after this one that are sends to the same service, from a valid
         * handle or from outside any service, with a payload that decodes later and that ends inside the
         * batch: what {@link #next()} would read without an error and {@link #sendTo} leave in the
         * batch, checked with a few loads and compares each instead of read. It stops before the first
         * record that is anything else (malformed ones included, which {@link #next()} then reports), and
         * returns how many it passed. The current record's fields stay those of this one.
         */
        private int passSendsLikeThis() {
            int n = 0;
            int p = pos;
            while (end - p > SEND_HEAD && b[p] == SEND
                    && (int) INT.get(b, p + 1) == toNode && (long) LONG.get(b, p + 5) == toId
                    && Payloads.decodesLater(b[p + SEND_HEAD - 1])) {
                int fromNodeThere = (int) INT.get(b, p + 13);
                long fromIdThere = (long) LONG.get(b, p + 17);
                if ((fromNodeThere != 0 || fromIdThere != 0) && !Handle.isValid(fromNodeThere, fromIdThere)) {
                    break;
                }
                pos = p + SEND_HEAD;
                try {
                    int length = readLength();
                    p = pos + length;
                } catch (InvalidProtocolBufferException malformed) {
                    break; // next() reads this record again, and reports it
                }
                n++;
            }
            pos = p;
            return n;
        }

        /** The error of a failure record. */
        CallError failure() throws InvalidProtocolBufferException {
            return CallError.parseFrom(ByteString.copyFrom(b, bodyAt, bodyLength));
        }

        /** The envelope of a control record. */
        Envelope control() throws InvalidProtocolBufferException {
            return Envelope.parseFrom(ByteString.copyFrom(b, bodyAt, bodyLength));
        }

        private long readFixed64() throws InvalidProtocolBufferException {
            need(8);
            long v = (long) LONG.get(b, pos);
            pos += 8;
            return v;
        }

        private int readLength() throws InvalidProtocolBufferException {
            int n = 0;
            for (int shift = 0; shift < 32; shift += 7) {
                need(1);
                byte x = b[pos++];
                n |= (x & 0x7F) << shift;
                if (x >= 0) {
                    if (n < 0) {
                        break;
                    }
                    need(n);
                    return n;
                }
            }
            throw new InvalidProtocolBufferException("a malformed length at byte " + (pos - start));
        }

        private void need(int n) throws InvalidProtocolBufferException {
            if (n > end - pos) {
                throw new InvalidProtocolBufferException("the batch ends inside a record (" + (end - pos) + " bytes left, " + n + " needed)");
            }
        }
    }
}
