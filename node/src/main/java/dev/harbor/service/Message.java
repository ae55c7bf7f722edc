package dev.harbor.service;

/**
 * One message as a handler sees it: who sent it and what it carries.
 *
 * <p>Payloads are passed between services of one node without copying, so they must be immutable:
 * protobuf messages, strings, records of immutable values. Only protobuf messages, byte strings and
 * strings can cross nodes.
 */
public class Message {
    private final Handle from;
    private final Object payload;

    Message(Handle from, Object payload) {
        this.from = from;
        this.payload = payload;
    }

    /** The sending service, or {@code null} when the message came from outside any service. */
    public Handle from() {
        return from;
    }

    /** What the message carries. */
    public final Object payload() {
        return payload;
    }

    /**
     * The payload as a {@code type}.
     *
     * @throws IllegalArgumentException naming both types if the payload is something else
     */
    public <T> T payload(Class<T> type) {
        if (!type.isInstance(payload)) {
            throw new IllegalArgumentException("expected a " + type.getName() + " from " + from + " but got "
                    + (payload == null ? "null" : "a " + payload.getClass().getName()));
        }
        return type.cast(payload);
    }

    /** Whether the sender waits for a reply. */
    public boolean isCall() {
        return false;
    }

    /**
     * Takes the reply out of the handler's hands: the handler's return value is then ignored and the
     * reply is sent when the returned {@link DeferredReply} is completed, from any handler or thread.
     * If the service exits first, the caller gets an error instead.
     *
     * @throws IllegalStateException if this message is a plain send: there is nobody to answer
     */
    public DeferredReply defer() {
        throw new IllegalStateException("the message from " + from + " is a send, not a call: there is no reply to defer");
    }

    @Override
    public String toString() {
        return (isCall() ? "call" : "send") + " from " + from + ": " + payload;
    }
}
