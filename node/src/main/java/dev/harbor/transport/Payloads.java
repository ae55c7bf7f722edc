package dev.harbor.transport;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Message;
import com.google.protobuf.Parser;
import dev.harbor.proto.Payload;
import dev.harbor.service.CallException;
import dev.harbor.service.Handle;
import java.util.List;
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

    /**
     * Encodes a payload for the wire.
     *
     * @throws CallException with {@link CallException.Failure#BAD_PAYLOAD} for a type that cannot cross nodes
     */
    Payload encode(Object value, Handle to) {
        if (value == null) {
            return Payload.newBuilder().setNull(true).build();
        }
        if (value instanceof String s) {
            return Payload.newBuilder().setText(s).build();
        }
        if (value instanceof ByteString b) {
            return Payload.newBuilder().setBytes(b).build();
        }
        if (value instanceof Any a) {
            return Payload.newBuilder().setMessage(a).build();
        }
        if (value instanceof Message m) {
            return Payload.newBuilder().setMessage(Any.pack(m)).build();
        }
        throw new CallException(CallException.Failure.BAD_PAYLOAD, to, "a " + value.getClass().getName()
                + " cannot cross nodes (to " + to + "): send a protobuf message, a ByteString or a String", null);
    }

    /**
     * Decodes a payload from the wire.
     *
     * @throws InvalidProtocolBufferException if a registered type's bytes do not parse
     */
    Object decode(Payload payload) throws InvalidProtocolBufferException {
        return switch (payload.getValueCase()) {
            case TEXT -> payload.getText();
            case BYTES -> payload.getBytes();
            case MESSAGE -> {
                Any any = payload.getMessage();
                String url = any.getTypeUrl();
                Parser<? extends Message> parser = parsers.get(url.substring(url.lastIndexOf('/') + 1));
                yield parser == null ? any : parser.parseFrom(any.getValue());
            }
            case NULL, VALUE_NOT_SET -> null;
        };
    }
}
