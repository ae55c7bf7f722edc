package dev.harbor.transport;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import dev.harbor.service.CallException;
import dev.harbor.service.Handle;
import java.nio.charset.StandardCharsets;
import java.util.ServiceLoader;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What crosses nodes: protobuf messages (packed as {@code Any}), byte strings, strings and null.
 *
 * <p>A protobuf message arrives as its own type if its type is {@linkplain #register registered} on the
 * receiving node, and as an {@link Any} otherwise. The module that owns a message type registers it, by
 * declaring it as a {@link PayloadTypes}; the transport knows none of them. Thread-safe.
 */
public final class Payloads {
    private final Map<String, Parser<? extends Message>> parsers = new ConcurrentHashMap<>();

    /**
     * Payloads that know every message type the modules on the class path {@linkplain PayloadTypes declare}
     * (the thread's context class loader's, so that a node's {@code --classpath} jars count).
     */
    public Payloads() {
        for (PayloadTypes types : ServiceLoader.load(PayloadTypes.class)) {
            types.prototypes().forEach(this::register);
        }
    }

    /** Makes protobuf messages of {@code prototype}'s type arrive as that type. */
    public Payloads register(Message prototype) {
        parsers.put(prototype.getDescriptorForType().getFullName(), prototype.getParserForType());
        return this;
    }

    /** A payload in its wire form: its tag ({@link #NULL}, {@link #BYTES}, {@link #TEXT}, {@link #MESSAGE}) and bytes. */
    record Encoded(int tag, byte[] bytes) {
    }

    static final int NULL = 0;
    static final int BYTES = 1;
    static final int TEXT = 2;
    static final int MESSAGE = 3;
    private static final Encoded NULL_PAYLOAD = new Encoded(NULL, new byte[0]);

    /**
     * Encodes a payload for the wire. Needs no registered type: any protobuf message crosses, as an
     * {@link Any}.
     *
     * @throws CallException with {@link CallException.Failure#BAD_PAYLOAD} for a type that cannot cross nodes
     */
    static Encoded encode(Object value, Handle to) {
        if (value == null) {
            return NULL_PAYLOAD;
        }
        if (value instanceof String s) {
            return new Encoded(TEXT, s.getBytes(StandardCharsets.UTF_8));
        }
        if (value instanceof ByteString b) {
            return new Encoded(BYTES, b.toByteArray());
        }
        if (value instanceof Any a) {
            return new Encoded(MESSAGE, a.toByteArray());
        }
        if (value instanceof Message m) {
            return new Encoded(MESSAGE, Any.pack(m).toByteArray());
        }
        throw new CallException(CallException.Failure.BAD_PAYLOAD, to, "a " + value.getClass().getName()
                + " cannot cross nodes (to " + to + "): send a protobuf message, a ByteString or a String", null);
    }

    /**
     * Decodes a payload from its wire form, {@code length} bytes of {@code bytes} from {@code offset}.
     * Text that is not valid UTF-8 arrives with U+FFFD in place of what does not decode.
     *
     * @throws InvalidProtocolBufferException if a message's bytes do not parse, or the tag is unknown
     */
    Object decode(int tag, byte[] bytes, int offset, int length) throws InvalidProtocolBufferException {
        return switch (tag) {
            case TEXT, BYTES -> plain(tag, bytes, offset, length);
            case MESSAGE -> unpack(Any.parser().parseFrom(bytes, offset, length));
            case NULL -> null;
            default -> throw new InvalidProtocolBufferException("a payload of unknown kind " + tag);
        };
    }

    /**
     * Whether a send's payload of kind {@code tag} is left in its wire form for the receiving service's
     * thread to decode with {@link #plain}: text and byte strings, which decode without failing.
     */
    static boolean decodesLater(int tag) {
        return tag == TEXT || tag == BYTES;
    }

    /** Text or a byte string, {@code length} bytes of {@code bytes} from {@code offset}: what never fails to decode. */
    static Object plain(int tag, byte[] bytes, int offset, int length) {
        return tag == TEXT ? new String(bytes, offset, length, StandardCharsets.UTF_8) : ByteString.copyFrom(bytes, offset, length);
    }

    /** A message as its registered type, or as the {@link Any} it came in when its type is not registered here. */
    private Object unpack(Any any) throws InvalidProtocolBufferException {
        String url = any.getTypeUrl();
        Parser<? extends Message> parser = parsers.get(url.substring(url.lastIndexOf('/') + 1));
        return parser == null ? any : parser.parseFrom(any.getValue());
    }
}
